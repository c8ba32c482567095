import { flushPromises, mount, type VueWrapper } from '@vue/test-utils'
import { NMessageProvider, NSelect } from 'naive-ui'
import { createPinia, setActivePinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { defineComponent, h } from 'vue'
import { i18n } from '@/locales'
import ConnectService from './ConnectService.vue'

interface Call {
  method: string
  url: string
  body: unknown
}
const calls: Call[] = []
const encoder = new TextEncoder()
/** The test stream's controller: the test pushes each event when it wants. */
let stream: ReadableStreamDefaultController<Uint8Array> | null = null

function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } })
}

beforeEach(() => {
  i18n.global.locale.value = 'en-US'
  document.body.innerHTML = ''
  calls.length = 0
  stream = null
  vi.stubGlobal(
    'fetch',
    vi.fn(async (url: string, init: RequestInit = {}) => {
      const body = init.body ? JSON.parse(String(init.body)) : undefined
      calls.push({ method: init.method ?? 'GET', url, body })
      if (url === '/api/admin/upstreams/discover') return json({ models: ['fake-chat-1', 'fake-chat-2'] })
      if (url === '/api/admin/upstreams/test') {
        return new Response(
          new ReadableStream<Uint8Array>({
            start(c) {
              stream = c
            },
          }),
          { status: 200, headers: { 'Content-Type': 'text/event-stream' } },
        )
      }
      if (url === '/api/admin/upstreams/providers') {
        if ((body as { name: string }).name === 'taken')
          return json({ error: { code: 'conflict', message: "A provider named 'taken' exists already." } }, 409)
        return json(
          {
            id: 'p1',
            name: body.name,
            kind: body.kind,
            base_url: body.base_url,
            api_version: null,
            has_proxy: false,
            enabled: true,
            source: 'console',
            credentials: [],
            models: [],
            usable: true,
          },
          201,
        )
      }
      return json({ error: { code: 'not_found', message: url } }, 404)
    }),
  )
})

afterEach(() => vi.unstubAllGlobals())

function render(props: Record<string, unknown> = {}) {
  const events: { saved: unknown[]; keepDemo: number } = { saved: [], keepDemo: 0 }
  const Wrapper = defineComponent({
    render: () =>
      h(NMessageProvider, null, {
        default: () =>
          h(ConnectService, {
            ...props,
            onSaved: (p: unknown) => events.saved.push(p),
            onKeepDemo: () => {
              events.keepDemo++
            },
          }),
      }),
  })
  const wrapper = mount(Wrapper, { global: { plugins: [createPinia(), i18n] }, attachTo: document.body })
  setActivePinia(createPinia())
  return { wrapper, events }
}

const field = (w: VueWrapper, label: string) => w.get(`input[aria-label="${label}"]`)
const button = (w: VueWrapper, text: string) => w.findAll('button').find((b) => b.text() === text)!

/** Choose in a select as a person would end up choosing (naive-ui's menu needs a real layout engine). */
async function select(w: VueWrapper, index: number, value: unknown): Promise<void> {
  w.findAllComponents(NSelect)[index].vm.$emit('update:value', value)
  await flushPromises()
}
async function choose(w: VueWrapper, label: string): Promise<void> {
  const options = w.findAllComponents(NSelect)[0].props('options') as { label: string; value: string }[]
  const option = options.find((o) => o.label === label)
  expect(option, label).toBeTruthy()
  await select(w, 0, option!.value)
}
async function pickModel(w: VueWrapper, name: string): Promise<void> {
  const options = w.findAllComponents(NSelect)[1].props('options') as { value: string }[]
  expect(options.map((o) => o.value)).toContain(name)
  await select(w, 1, [name])
}

describe('connecting an AI service', () => {
  it('finds the models of the service as typed, and saves it with the key and the models picked', async () => {
    const { wrapper: w, events } = render({ takenNames: ['custom'] })
    await choose(w, 'Any OpenAI-compatible URL')
    expect((field(w, 'Name').element as HTMLInputElement).value).toBe('custom-2')
    expect(button(w, 'Find models').attributes('disabled')).toBeDefined() // the URL is missing
    await field(w, 'Base URL').setValue('http://127.0.0.1:9100/v1')
    await field(w, 'API key').setValue('sk-typed-in-the-form-1234')
    await button(w, 'Find models').trigger('click')
    await flushPromises()
    expect(calls.at(-1)).toEqual({
      method: 'POST',
      url: '/api/admin/upstreams/discover',
      body: { kind: 'openai', base_url: 'http://127.0.0.1:9100/v1', api_key: 'sk-typed-in-the-form-1234' },
    })
    expect(w.text()).toContain('Models found: 2')
    expect(button(w, 'Save').attributes('disabled')).toBeDefined() // no model picked yet
    await pickModel(w, 'fake-chat-2')
    await button(w, 'Save').trigger('click')
    await flushPromises()
    expect(calls.at(-1)).toEqual({
      method: 'POST',
      url: '/api/admin/upstreams/providers',
      body: {
        kind: 'openai',
        name: 'custom-2',
        base_url: 'http://127.0.0.1:9100/v1',
        api_key: 'sk-typed-in-the-form-1234',
        models: ['fake-chat-2'],
      },
    })
    expect(events.saved).toHaveLength(1)
    // The key left the form with the request.
    expect((field(w, 'API key').element as HTMLInputElement).value).toBe('')
    w.unmount()
  })

  it('shows the test answer as it streams in, then says it works', async () => {
    const { wrapper: w } = render()
    await field(w, 'API key').setValue('sk-abc')
    await button(w, 'Find models').trigger('click')
    await flushPromises()
    await pickModel(w, 'fake-chat-1')
    await button(w, 'Test fake-chat-1').trigger('click')
    await flushPromises()
    expect(calls.at(-1)).toEqual({
      method: 'POST',
      url: '/api/admin/upstreams/test',
      body: { kind: 'openai', base_url: 'https://api.openai.com/v1', api_key: 'sk-abc', model: 'fake-chat-1' },
    })
    const answer = () => w.find('[data-test-answer]').text()
    expect(answer()).toBe('Waiting for the answer…')
    stream!.enqueue(encoder.encode('event: delta\ndata: {"text":"Hello"}\n\n'))
    await vi.waitFor(() => expect(answer()).toBe('Hello'))
    expect(w.text()).not.toContain('It works.')
    stream!.enqueue(encoder.encode('event: delta\ndata: {"text":" there, friend"}\n\n'))
    await vi.waitFor(() => expect(answer()).toBe('Hello there, friend'))
    stream!.enqueue(encoder.encode('event: done\ndata: {"status":"complete"}\n\n'))
    await vi.waitFor(() => expect(w.text()).toContain('It works.'))
    expect(w.get('.test-answer-box').attributes('role')).toBe('status')
    w.unmount()
  })

  it("shows the upstream's error from the test stream", async () => {
    const { wrapper: w } = render()
    await field(w, 'API key').setValue('sk-wrong')
    await button(w, 'Find models').trigger('click')
    await flushPromises()
    await pickModel(w, 'fake-chat-1')
    await button(w, 'Test fake-chat-1').trigger('click')
    await flushPromises()
    stream!.enqueue(
      encoder.encode('event: error\ndata: {"code":"upstream_auth","message":"Incorrect API key provided: sk-***"}\n\n'),
    )
    stream!.close()
    await vi.waitFor(() => expect(w.get('.test-answer-box').classes()).toContain('is-error'))
    expect(w.text()).toContain('Incorrect API key provided: sk-***')
    expect(w.text()).not.toContain('It works.')
    w.unmount()
  })

  it("fills each preset's base URL; local servers need no key; the proxy's reader is named for a ChatGPT token", async () => {
    const { wrapper: w } = render()
    await choose(w, 'Ollama')
    expect((field(w, 'Base URL').element as HTMLInputElement).value).toBe('http://localhost:11434/v1')
    expect(button(w, 'Find models').attributes('disabled')).toBeUndefined()
    await button(w, 'Find models').trigger('click')
    await flushPromises()
    expect(calls.at(-1)?.body).toEqual({ kind: 'openai', base_url: 'http://localhost:11434/v1' })

    await choose(w, 'DeepSeek')
    expect((field(w, 'Base URL').element as HTMLInputElement).value).toBe('https://api.deepseek.com/v1')
    expect(button(w, 'Find models').attributes('disabled')).toBeDefined() // a key is needed

    await choose(w, 'Azure OpenAI')
    expect(w.find('input[aria-label="API version"]').exists()).toBe(true)
    expect((field(w, 'API version').element as HTMLInputElement).value).toBe('2024-10-21')

    await choose(w, 'ChatGPT access token through a reverse proxy')
    expect(w.find('input[aria-label="Access token"]').exists()).toBe(true)
    expect(w.text()).toContain('Whoever runs the reverse proxy sees your ChatGPT access token')
    w.unmount()
  })

  it('in the setup, offers to keep the demo model, and says when the name is taken', async () => {
    const { wrapper: w, events } = render({ setup: true })
    await button(w, 'Keep the offline demo model for now').trigger('click')
    expect(events.keepDemo).toBe(1)
    await field(w, 'API key').setValue('sk-abc')
    await field(w, 'Name').setValue('taken')
    await button(w, 'Find models').trigger('click')
    await flushPromises()
    await pickModel(w, 'fake-chat-1')
    await button(w, 'Save and start chatting').trigger('click')
    await flushPromises()
    expect(w.get('[role="alert"]').text()).toBe('The name “taken” is taken; choose another under More options.')
    expect(events.saved).toHaveLength(0)
    w.unmount()
  })
})
