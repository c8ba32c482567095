import { flushPromises, mount, type VueWrapper } from '@vue/test-utils'
import { NDialogProvider, NMessageProvider, NSwitch } from 'naive-ui'
import { createPinia, setActivePinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { defineComponent, h } from 'vue'
import { createMemoryHistory, createRouter } from 'vue-router'
import type { CredentialStatus, ModelSetting, ProviderStatus, UpstreamProvider, UpstreamsOverview } from '@/api/types'
import { i18n } from '@/locales'
import AdminUpstreams from './AdminUpstreams.vue'
import UpstreamNotice from './UpstreamNotice.vue'

const NOW = Date.parse('2026-03-01T10:00:00Z')
const SAVED_KEY = 'sk-or-v1-0123456789abcdef-c3f9'
let providers: ProviderStatus[] = []
let overview: UpstreamsOverview
interface Call {
  method: string
  url: string
  body: unknown
}
const calls: Call[] = []

function credential(patch: Partial<CredentialStatus>): CredentialStatus {
  return {
    name: 'key-1',
    concurrency: 4,
    in_flight: 0,
    requests: 7,
    cooling_down_seconds: 0,
    failing: false,
    state: 'ready',
    last_error: null,
    last_error_at: null,
    next_try_at: null,
    rests: 0,
    ...patch,
  }
}

function model(provider: string, id: string, patch: Partial<ModelSetting> = {}): ModelSetting {
  return {
    provider,
    id,
    display_name: null,
    enabled: true,
    context_window: null,
    vision: false,
    reasoning: false,
    input_price: null,
    output_price: null,
    allowed_roles: null,
    allowed_users: null,
    ...patch,
  }
}

/** deepseek from the configuration file (its credential resting), openrouter added in the console. */
function configured(): UpstreamsOverview {
  const file: UpstreamProvider = {
    id: null,
    name: 'deepseek',
    kind: 'openai',
    base_url: 'https://api.deepseek.com/v1',
    api_version: null,
    has_proxy: false,
    enabled: true,
    source: 'file',
    usable: false,
    models: [model('deepseek', 'deepseek-reasoner')],
    credentials: [
      {
        id: 'key-1',
        name: 'key-1',
        has_key: true,
        key_hint: 'sk-…9a1b',
        has_proxy: false,
        concurrency: 4,
        requests_per_minute: null,
        tokens_per_minute: null,
        enabled: true,
        state: 'resting',
        last_error: null,
      },
    ],
  }
  const console: UpstreamProvider = {
    id: 'prov-1',
    name: 'openrouter',
    kind: 'openai',
    base_url: 'https://openrouter.ai/api/v1',
    api_version: null,
    has_proxy: true,
    enabled: true,
    source: 'console',
    usable: true,
    models: [
      model('openrouter', 'meta-llama/llama-3-8b:free', {
        display_name: 'Llama 3',
        input_price: 0.5,
        output_price: 1.5,
      }),
    ],
    credentials: [
      {
        id: 'cred-1',
        name: 'default',
        has_key: true,
        key_hint: 'sk-…c3f9',
        has_proxy: false,
        concurrency: null,
        requests_per_minute: null,
        tokens_per_minute: null,
        enabled: true,
        state: 'ready',
        last_error: null,
      },
    ],
  }
  return { providers: [file, console], default_model: 'meta-llama/llama-3-8b:free', bundled_demo: false }
}

function resting(): ProviderStatus[] {
  return [
    {
      name: 'deepseek',
      kind: 'openai',
      models: ['deepseek-reasoner'],
      queue_length: 0,
      usable: false,
      credentials: [
        credential({
          state: 'resting',
          failing: true,
          rests: 2,
          last_error: 'Authentication Fails (key sk-***)',
          last_error_at: '2026-03-01T09:59:50Z',
          next_try_at: '2026-03-01T10:00:25Z',
        }),
      ],
    },
    {
      name: 'openrouter',
      kind: 'openai',
      models: ['meta-llama/llama-3-8b:free'],
      queue_length: 0,
      usable: true,
      credentials: [credential({ name: 'default', requests: 3 })],
    },
  ]
}

function json(body: unknown, status = 200): Response {
  return new Response(body === undefined ? null : JSON.stringify(body), {
    status,
    headers: { 'Content-Type': 'application/json' },
  })
}

async function render(path: string) {
  const pinia = createPinia()
  setActivePinia(pinia)
  const router = createRouter({
    history: createMemoryHistory(),
    routes: [
      { path: '/', name: 'new', component: { render: () => null } },
      { path: '/admin/:tab?', name: 'admin', component: { render: () => null } },
    ],
  })
  await router.push(path)
  const Wrapper = defineComponent({
    render: () =>
      h(NDialogProvider, null, {
        default: () =>
          h(NMessageProvider, null, {
            default: () => [h(UpstreamNotice), path.startsWith('/admin') ? h(AdminUpstreams) : null],
          }),
      }),
  })
  const wrapper = mount(Wrapper, { global: { plugins: [pinia, i18n, router] }, attachTo: document.body })
  await flushPromises()
  return wrapper
}

beforeEach(() => {
  i18n.global.locale.value = 'en-US'
  document.body.innerHTML = ''
  calls.length = 0
  overview = configured()
  vi.useFakeTimers({ toFake: ['Date', 'setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] })
  vi.setSystemTime(NOW)
  vi.stubGlobal(
    'fetch',
    vi.fn(async (url: string, init: RequestInit = {}) => {
      const method = init.method ?? 'GET'
      const body = init.body ? JSON.parse(String(init.body)) : undefined
      if (method !== 'GET') calls.push({ method, url, body })
      if (url === '/api/admin/providers') return json(providers)
      if (url === '/api/admin/upstreams') return json(overview)
      if (url === '/api/models') return json({ default: null, models: [], bundled_demo: false })
      if (url === '/api/admin/users') return json([])
      if (url.endsWith('/retry')) {
        providers = [{ ...providers[0], usable: true, credentials: [credential({})] }, ...providers.slice(1)]
        return json(undefined, 204)
      }
      if (url === '/api/admin/upstreams/providers/prov-1/discover')
        return json({ models: ['meta-llama/llama-3-8b:free', 'qwen/qwen-2:7b'] })
      if (method === 'PUT')
        return json({ ...model('openrouter', decodeURIComponent(url.split('/models/openrouter/')[1])), ...body })
      if (url.includes('/credentials/')) return json(overview.providers[1].credentials[0])
      if (method === 'PATCH' && url === '/api/admin/settings')
        return json({ registration: 'closed', sharing: true, default_model: body.default_model, announcement: null })
      if (method === 'PATCH' && body.base_url?.startsWith('https://elsewhere.example')) {
        return json(
          {
            error: {
              code: 'conflict',
              message:
                "This provider's keys were saved for its current address and are only ever sent there. To use another host, add a new provider (or remove the keys first).",
            },
          },
          409,
        )
      }
      if (method === 'PATCH') return json({ ...overview.providers[1], ...body })
      if (method === 'DELETE') return json(undefined, 204)
      return json({ error: { code: 'not_found', message: url } }, 404)
    }),
  )
})

afterEach(() => {
  vi.useRealTimers()
  vi.unstubAllGlobals()
})

const card = (w: VueWrapper, name: string) => w.get(`article[aria-label="${name}"]`)
const buttonIn = (root: ParentNode, label: string) =>
  [...root.querySelectorAll('button')].find(
    (b) => b.getAttribute('aria-label') === label || b.textContent?.trim() === label,
  ) as HTMLButtonElement
/** The dialog opened last (one closing may still be leaving). */
const dialog = () => [...document.querySelectorAll('.n-modal, .n-dialog')].at(-1) as HTMLElement

describe('upstreams in the admin console', () => {
  it('shows a resting credential with its reason, error time and a next try that counts down; "Try now" brings it back', async () => {
    providers = resting()
    const w = await render('/admin/upstreams')
    const row = card(w, 'deepseek').get('tr[data-credential="key-1"]')
    expect(row.attributes('data-state')).toBe('resting')
    expect(row.text()).toContain('Resting')
    expect(row.text()).toContain('Refusals in a row: 2')
    expect(row.text()).toContain('Authentication Fails (key sk-***)')
    expect(row.find('time[datetime="2026-03-01T09:59:50Z"]').exists()).toBe(true)
    expect(row.find('.credential-countdown').text()).toBe('in 25 seconds')
    expect(card(w, 'deepseek').classes()).toContain('is-unusable')

    await vi.advanceTimersByTimeAsync(2000)
    expect(row.find('.credential-countdown').text()).toBe('in 23 seconds')

    // On the Upstreams tab itself the notice does not link to it.
    const notice = w.get('.upstream-notice')
    expect(notice.attributes('role')).toBe('status')
    expect(notice.text()).toMatch(/^No usable credential for deepseek: people get an error until \d{1,2}:\d\d:\d\d/)
    expect(notice.find('a').exists()).toBe(false)

    await w.get('button[aria-label="Try now: key-1"]').trigger('click')
    await flushPromises()
    expect(calls.map((c) => c.url)).toEqual(['/api/admin/providers/deepseek/credentials/key-1/retry'])
    expect(w.get('tr[data-credential="key-1"]').attributes('data-state')).toBe('ready')
    expect(w.find('button[aria-label="Try now: key-1"]').exists()).toBe(false)
    expect(w.find('.upstream-notice').exists()).toBe(false)
    w.unmount()
  })

  it('shows providers from the configuration file read-only, console ones with their actions', async () => {
    providers = resting()
    const w = await render('/admin/upstreams')
    const file = card(w, 'deepseek')
    expect(file.text()).toContain('From the configuration file')
    for (const label of [
      'Edit: deepseek',
      'Remove: deepseek',
      'Add a key',
      'Edit: key-1',
      'Remove: key-1',
      'Use deepseek',
    ]) {
      expect(buttonIn(file.element, label), label).toBeUndefined()
    }
    expect(file.findComponent(NSwitch).exists()).toBe(true) // its models can still be offered or hidden
    expect(buttonIn(file.element, 'Test: deepseek')).toBeTruthy()

    const own = card(w, 'openrouter')
    expect(own.text()).not.toContain('From the configuration file')
    for (const label of [
      'Edit: openrouter',
      'Remove: openrouter',
      'Add a key',
      'Edit: default',
      'Remove: default',
      'Test: default',
    ]) {
      expect(buttonIn(own.element, label), label).toBeTruthy()
    }
    // Keys only as hints; display names and prices.
    expect(own.get('tr[data-credential="default"]').text()).toContain('sk-…c3f9')
    const llama = own.get('tr[data-model="meta-llama/llama-3-8b:free"]')
    expect(llama.text()).toContain('Llama 3')
    expect(llama.text()).toContain('$0.50 / $1.50')
    w.unmount()
  })

  it('edits a key without ever showing it: empty keeps the saved key, a typed one replaces it', async () => {
    providers = resting()
    const w = await render('/admin/upstreams')
    buttonIn(card(w, 'openrouter').element, 'Edit: default').click()
    await flushPromises()
    const key = dialog().querySelector('input[aria-label="API key"]') as HTMLInputElement
    expect(key.value).toBe('')
    expect(key.placeholder).toBe('Empty keeps the saved key (sk-…c3f9)')
    expect(document.body.innerHTML).not.toContain(SAVED_KEY)
    buttonIn(dialog(), 'Save').click()
    await flushPromises()
    expect(calls.at(-1)).toEqual({
      method: 'PATCH',
      url: '/api/admin/upstreams/providers/prov-1/credentials/cred-1',
      body: { name: 'default', concurrency: null, requests_per_minute: null, tokens_per_minute: null, enabled: true },
    })

    buttonIn(card(w, 'openrouter').element, 'Edit: default').click()
    await flushPromises()
    const again = dialog().querySelector('input[aria-label="API key"]') as HTMLInputElement
    expect(again.value).toBe('') // not the key typed last time either
    again.value = 'sk-new-key-5678'
    again.dispatchEvent(new Event('input'))
    await flushPromises()
    buttonIn(dialog(), 'Save').click()
    await flushPromises()
    expect((calls.at(-1)?.body as { api_key?: string }).api_key).toBe('sk-new-key-5678')
    w.unmount()
  })

  it('turns a console provider off, removes it after asking, and finds, offers and prices models', async () => {
    providers = resting()
    const w = await render('/admin/upstreams')
    const own = card(w, 'openrouter')
    own.findAllComponents(NSwitch)[0].vm.$emit('update:value', false)
    await flushPromises()
    expect(calls.at(-1)).toEqual({
      method: 'PATCH',
      url: '/api/admin/upstreams/providers/prov-1',
      body: { enabled: false },
    })

    buttonIn(own.element, 'Remove: openrouter').click()
    await flushPromises()
    expect(dialog().textContent).toContain('Remove openrouter with its keys and model settings?')
    expect(calls.at(-1)?.method).toBe('PATCH') // nothing removed before the answer
    buttonIn(dialog(), 'Remove').click()
    await flushPromises()
    expect(calls.at(-1)).toEqual({ method: 'DELETE', url: '/api/admin/upstreams/providers/prov-1', body: undefined })

    buttonIn(own.element, 'Find models: openrouter').click()
    await flushPromises()
    const qwen = own.get('tr[data-model="qwen/qwen-2:7b"]')
    expect(qwen.attributes('data-enabled')).toBe('false')
    qwen.findComponent(NSwitch).vm.$emit('update:value', true)
    await flushPromises()
    expect(calls.at(-1)).toEqual({
      method: 'PUT',
      url: '/api/admin/upstreams/models/openrouter/qwen/qwen-2%3A7b',
      body: {
        display_name: null,
        enabled: true,
        context_window: null,
        vision: false,
        reasoning: false,
        input_price: null,
        output_price: null,
        allowed_roles: null,
        allowed_users: null,
      },
    })
    // Turning a configured model off keeps its name and prices (the route replaces every setting).
    own.get('tr[data-model="meta-llama/llama-3-8b:free"]').findComponent(NSwitch).vm.$emit('update:value', false)
    await flushPromises()
    expect(calls.at(-1)?.body).toMatchObject({
      enabled: false,
      display_name: 'Llama 3',
      input_price: 0.5,
      output_price: 1.5,
    })

    buttonIn(own.element, 'Edit: meta-llama/llama-3-8b:free').click()
    await flushPromises()
    const input = (label: string) => dialog().querySelector(`input[aria-label="${label}"]`) as HTMLInputElement
    expect(input('Display name').value).toBe('Llama 3')
    input('Display name').value = 'Llama 3 8B'
    input('Display name').dispatchEvent(new Event('input'))
    await flushPromises()
    buttonIn(dialog(), 'Save').click()
    await flushPromises()
    expect(calls.at(-1)).toEqual({
      method: 'PUT',
      url: '/api/admin/upstreams/models/openrouter/meta-llama/llama-3-8b%3Afree',
      body: {
        display_name: 'Llama 3 8B',
        enabled: true,
        context_window: null,
        vision: false,
        reasoning: false,
        input_price: 0.5,
        output_price: 1.5,
        allowed_roles: null,
        allowed_users: null,
      },
    })
    w.unmount()
  })

  it('removes a key only when asked, shows a key switched off as off, and says why an address cannot change', async () => {
    providers = resting()
    overview.providers[1].credentials.push({
      id: 'cred-2',
      name: 'spare',
      has_key: true,
      key_hint: 'sk-…0000',
      has_proxy: false,
      concurrency: null,
      requests_per_minute: null,
      tokens_per_minute: null,
      enabled: false,
      state: null,
      last_error: null,
    })
    const w = await render('/admin/upstreams')
    const spare = card(w, 'openrouter').get('tr[data-credential="spare"]')
    expect(spare.attributes('data-state')).toBe('off')
    expect(spare.text()).toContain('Off')
    expect(spare.text()).not.toContain('Ready')

    buttonIn(card(w, 'openrouter').element, 'Edit: default').click()
    await flushPromises()
    const remove = [...dialog().querySelectorAll('.n-checkbox')].find((c) =>
      c.textContent?.includes('Remove the key'),
    ) as HTMLElement
    remove.click()
    await flushPromises()
    buttonIn(dialog(), 'Save').click()
    await flushPromises()
    expect(calls.at(-1)).toMatchObject({
      method: 'PATCH',
      url: '/api/admin/upstreams/providers/prov-1/credentials/cred-1',
      body: { api_key: '' },
    })

    buttonIn(card(w, 'openrouter').element, 'Edit: openrouter').click()
    await flushPromises()
    const url = dialog().querySelector('input[aria-label="Base URL"]') as HTMLInputElement
    expect(url.value).toBe('https://openrouter.ai/api/v1')
    url.value = 'https://elsewhere.example/v1'
    url.dispatchEvent(new Event('input'))
    await flushPromises()
    buttonIn(dialog(), 'Save').click()
    await flushPromises()
    expect(calls.at(-1)).toEqual({
      method: 'PATCH',
      url: '/api/admin/upstreams/providers/prov-1',
      body: { base_url: 'https://elsewhere.example/v1' },
    })
    expect(document.body.textContent).toContain(
      'The keys were saved for this provider’s current address and are only ever sent there.',
    )
    w.unmount()
  })

  it('tells an administrator in the chat view, in their language, with a link to the upstreams', async () => {
    i18n.global.locale.value = 'zh-CN'
    providers = resting()
    const w = await render('/')
    const notice = w.get('.upstream-notice')
    expect(notice.attributes('aria-label')).toBe('上游状态')
    expect(notice.text()).toContain('deepseek 没有可用的凭据：在 ')
    expect(notice.get('a').attributes('href')).toBe('/admin/upstreams')
    w.unmount()
  })

  it('says nothing while every provider can answer', async () => {
    providers = [{ ...resting()[0], usable: true, credentials: [credential({})] }]
    const w = await render('/')
    expect(w.find('.upstream-notice').exists()).toBe(false)
    w.unmount()
  })
})
