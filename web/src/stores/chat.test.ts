import { createPinia, setActivePinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { Conversation, Message } from '@/api/types'
import { useChatStore } from './chat'
import { useConversationsStore } from './conversations'

type Handler = (url: string, init: RequestInit) => Response | Promise<Response>
const routes: [string, RegExp, Handler][] = []
const calls: { method: string; url: string; body: unknown }[] = []

function route(method: string, pattern: RegExp, handler: Handler): void {
  routes.unshift([method, pattern, handler])
}

function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json', ...headers } })
}

function sse(events: [string, unknown][], firstId = 1): Response {
  const text = events.map(([e, d], i) => `id: ${firstId + i}\nevent: ${e}\ndata: ${JSON.stringify(d)}\n\n`).join('')
  return new Response(text, { status: 200, headers: { 'Content-Type': 'text/event-stream' } })
}

const conversation: Conversation = {
  id: 'c1',
  title: 'New chat',
  created_at: '2026-01-01T00:00:00Z',
  updated_at: '2026-01-01T00:00:00Z',
  current_leaf_id: null,
  settings: {
    model: null,
    system_prompt: '',
    temperature: null,
    top_p: null,
    max_tokens: null,
    context_messages: 20,
    context_tokens: null,
  },
}

function message(
  id: string,
  parent: string | null,
  role: 'user' | 'assistant',
  content: string,
  status: Message['status'] = 'complete',
  t = 1,
): Message {
  return {
    id,
    parent_id: parent,
    role,
    content,
    reasoning: '',
    status,
    model: null,
    error: null,
    prompt_tokens: null,
    completion_tokens: null,
    created_at: `2026-01-01T00:00:0${t}Z`,
    updated_at: '',
  }
}

beforeEach(() => {
  setActivePinia(createPinia())
  routes.length = 0
  calls.length = 0
  vi.stubGlobal(
    'fetch',
    vi.fn(async (input: string | URL | Request, init: RequestInit = {}) => {
      const url = String(input)
      const method = init.method ?? 'GET'
      calls.push({ method, url, body: init.body ? JSON.parse(String(init.body)) : undefined })
      const hit = routes.find(([m, p]) => m === method && p.test(url))
      if (!hit) return json({ error: { code: 'not_found', message: `${method} ${url}` } }, 404)
      return hit[2](url, init)
    }),
  )
  route('GET', /\/api\/conversations\/c1$/, () => json({ ...conversation, title: 'Greeting' }))
})

afterEach(() => vi.unstubAllGlobals())

describe('chat store', () => {
  it('sends a question and streams the answer into the tree', async () => {
    route('POST', /\/api\/conversations\/c1\/messages$/, () =>
      sse([
        ['start', { conversation_id: 'c1', user_message_id: 'u1', message_id: 'a1', model: 'fake' }],
        ['title', { title: 'Greeting' }],
        ['queued', { position: 2 }],
        ['streaming', {}],
        ['delta', { text: 'Hel' }],
        ['delta', { text: 'lo!' }],
        ['usage', { prompt_tokens: 3, completion_tokens: 2 }],
        ['done', { status: 'complete' }],
      ]),
    )
    const chat = useChatStore()
    const conversations = useConversationsStore()
    conversations.items = [{ ...conversation }]
    chat.adopt({ ...conversation })
    await chat.send('Hi')

    expect(calls.find((c) => c.method === 'POST')?.body).toEqual({ content: 'Hi', parent_id: null })
    expect(chat.thread.map((m) => [m.id, m.role, m.content, m.status])).toEqual([
      ['u1', 'user', 'Hi', 'complete'],
      ['a1', 'assistant', 'Hello!', 'complete'],
    ])
    expect(chat.thread[1].model).toBe('fake')
    expect(chat.thread[1].completion_tokens).toBe(2)
    expect(chat.currentLeafId).toBe('a1')
    expect(chat.isGenerating).toBe(false)
    expect(conversations.items[0].title).toBe('Greeting')
    expect(chat.conversation?.title).toBe('Greeting')
  })

  it('undoes the optimistic messages and offers a retry when the server refuses', async () => {
    let refuse = true
    route('POST', /\/api\/conversations\/c1\/messages$/, () =>
      refuse
        ? json({ error: { code: 'quota_exceeded', message: 'No more today.' } }, 429, { 'Retry-After': '60' })
        : sse([
            ['start', { conversation_id: 'c1', user_message_id: 'u1', message_id: 'a1', model: null }],
            ['delta', { text: 'ok' }],
            ['done', { status: 'complete' }],
          ]),
    )
    const chat = useChatStore()
    chat.adopt({ ...conversation })
    await chat.send('Hi')
    expect(chat.thread).toEqual([])
    expect(Object.keys(chat.messages)).toEqual([])
    expect(chat.pendingError?.error.code).toBe('quota_exceeded')
    expect(chat.pendingError?.error.retryAfter).toBe(60)

    refuse = false
    await chat.pendingError!.retry!()
    expect(chat.pendingError).toBeNull()
    expect(chat.thread.map((m) => m.content)).toEqual(['Hi', 'ok'])
  })

  it('keeps the partial answer and the error when the generation fails mid-stream', async () => {
    route('POST', /\/messages$/, () =>
      sse([
        ['start', { conversation_id: 'c1', user_message_id: 'u1', message_id: 'a1', model: null }],
        ['delta', { text: 'Partial' }],
        ['error', { code: 'upstream_error', message: 'boom' }],
        ['done', { status: 'error' }],
      ]),
    )
    const chat = useChatStore()
    chat.adopt({ ...conversation })
    await chat.send('Hi')
    const answer = chat.thread[1]
    expect(answer.content).toBe('Partial')
    expect(answer.status).toBe('error')
    expect(answer.error).toEqual({ code: 'upstream_error', message: 'boom' })
  })

  it("keeps an error event's extra fields, so a resting credential's next try can be shown", async () => {
    const resting = {
      code: 'upstream_resting',
      message: 'later',
      retry_after: 30,
      retry_at: '2026-03-10T21:30:30+00:00',
    }
    route('POST', /\/messages$/, () =>
      sse([
        ['start', { conversation_id: 'c1', user_message_id: 'u1', message_id: 'a1', model: null }],
        ['error', resting],
        ['done', { status: 'error' }],
      ]),
    )
    const chat = useChatStore()
    chat.adopt({ ...conversation })
    await chat.send('Hi')
    expect(chat.thread[1].error).toEqual(resting)
  })

  it('re-attaches to a live answer on open and replays it exactly once', async () => {
    route('GET', /\/api\/conversations\/c1\/messages$/, () =>
      json({
        messages: [message('u1', null, 'user', 'Hi'), message('a1', 'u1', 'assistant', 'Hel', 'streaming', 2)],
        current_leaf_id: 'a1',
      }),
    )
    route('GET', /\/api\/generations\/a1\/events$/, () =>
      sse([
        ['start', { conversation_id: 'c1', user_message_id: 'u1', message_id: 'a1', model: null }],
        ['streaming', {}],
        ['delta', { text: 'Hel' }],
        ['delta', { text: 'lo' }],
        ['done', { status: 'complete' }],
      ]),
    )
    const chat = useChatStore()
    await chat.open('c1')
    await vi.waitFor(() => expect(chat.messages.a1.status).toBe('complete'))
    expect(chat.messages.a1.content).toBe('Hello')
  })

  it('restores a continued answer from its reset event when re-attaching', async () => {
    route('GET', /\/api\/conversations\/c1\/messages$/, () =>
      json({
        messages: [message('u1', null, 'user', 'Hi'), message('a1', 'u1', 'assistant', 'Once upon', 'streaming', 2)],
        current_leaf_id: 'a1',
      }),
    )
    route('GET', /\/api\/generations\/a1\/events$/, () =>
      sse([
        ['start', { conversation_id: 'c1', user_message_id: 'u1', message_id: 'a1', model: null }],
        ['reset', { text: 'Once' }],
        ['delta', { text: ' upon' }],
        ['delta', { text: ' a time' }],
        ['done', { status: 'complete' }],
      ]),
    )
    const chat = useChatStore()
    await chat.open('c1')
    await vi.waitFor(() => expect(chat.messages.a1.status).toBe('complete'))
    expect(chat.messages.a1.content).toBe('Once upon a time')
  })

  it('streams reasoning beside the answer and times the thinking it saw arrive', async () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    vi.setSystemTime(new Date('2026-01-01T10:00:00Z'))
    let release!: () => void
    const gate = new Promise<void>((r) => {
      release = r
    })
    const event = (id: number, name: string, data: unknown) =>
      `id: ${id}\nevent: ${name}\ndata: ${JSON.stringify(data)}\n\n`
    route(
      'POST',
      /\/api\/conversations\/c1\/messages$/,
      () =>
        new Response(
          new ReadableStream({
            async start(c) {
              const enc = new TextEncoder()
              c.enqueue(
                enc.encode(
                  event(1, 'start', { conversation_id: 'c1', user_message_id: 'u1', message_id: 'a1', model: 'deep' }),
                ),
              )
              c.enqueue(enc.encode(event(2, 'reasoning', { text: 'The user greets; ' })))
              await gate
              c.enqueue(enc.encode(event(3, 'reasoning', { text: 'answer briefly.' })))
              c.enqueue(enc.encode(event(4, 'delta', { text: 'Hello' })))
              c.enqueue(enc.encode(event(5, 'delta', { text: '!' })))
              c.enqueue(enc.encode(event(6, 'done', { status: 'complete' })))
              c.close()
            },
          }),
          { status: 200 },
        ),
    )
    const chat = useChatStore()
    chat.adopt({ ...conversation })
    try {
      const sending = chat.send('Hi')
      await vi.waitFor(() => expect(chat.messages.a1?.reasoning).toBe('The user greets; '))
      expect(chat.messages.a1.content).toBe('')
      expect(chat.messages.a1.status).toBe('streaming')
      expect(chat.live.a1.phase).toBe('streaming')
      vi.setSystemTime(new Date('2026-01-01T10:00:12Z'))
      release()
      await sending
    } finally {
      vi.useRealTimers()
    }
    expect(chat.messages.a1).toMatchObject({
      reasoning: 'The user greets; answer briefly.',
      content: 'Hello!',
      status: 'complete',
    })
    // (vi.waitFor moves the fake clock on by its polling interval, hence the rounding)
    expect(Math.round((chat.thinking.a1.last - chat.thinking.a1.first) / 1000)).toBe(12)
  })

  it("replays a live answer's reasoning exactly once on re-attach, without pretending to time it", async () => {
    route('GET', /\/api\/conversations\/c1\/messages$/, () =>
      json({
        messages: [
          message('u1', null, 'user', 'Hi'),
          { ...message('a1', 'u1', 'assistant', '', 'streaming', 2), reasoning: 'Hmm' },
        ],
        current_leaf_id: 'a1',
      }),
    )
    route('GET', /\/api\/generations\/a1\/events$/, () =>
      sse([
        ['start', { conversation_id: 'c1', user_message_id: 'u1', message_id: 'a1', model: null }],
        ['streaming', {}],
        ['reasoning', { text: 'Hmm' }],
        ['reasoning', { text: ', easy.' }],
        ['delta', { text: 'Yes.' }],
        ['done', { status: 'complete' }],
      ]),
    )
    const chat = useChatStore()
    await chat.open('c1')
    await vi.waitFor(() => expect(chat.messages.a1.status).toBe('complete'))
    expect(chat.messages.a1.reasoning).toBe('Hmm, easy.')
    expect(chat.messages.a1.content).toBe('Yes.')
    expect(chat.thinking.a1).toBeUndefined()
  })

  it('takes the stored reasoning from a reset when the answer is no longer in memory', async () => {
    route('GET', /\/api\/conversations\/c1\/messages$/, () =>
      json({
        messages: [
          message('u1', null, 'user', 'Hi'),
          { ...message('a1', 'u1', 'assistant', 'Par', 'streaming', 2), reasoning: 'Hm' },
        ],
        current_leaf_id: 'a1',
      }),
    )
    route('GET', /\/api\/generations\/a1\/events$/, () =>
      sse([
        ['reset', { text: 'Partial answer', reasoning: 'Hmm, think first.' }],
        ['done', { status: 'interrupted' }],
      ]),
    )
    const chat = useChatStore()
    await chat.open('c1')
    await vi.waitFor(() => expect(chat.messages.a1.status).toBe('interrupted'))
    expect(chat.messages.a1).toMatchObject({ content: 'Partial answer', reasoning: 'Hmm, think first.' })
  })

  it('moves between sibling answers and stores the branch on the server', async () => {
    route('GET', /\/api\/conversations\/c1\/messages$/, () =>
      json({
        messages: [
          message('u1', null, 'user', 'Hi', 'complete', 1),
          message('a1', 'u1', 'assistant', 'one', 'complete', 2),
          message('a2', 'u1', 'assistant', 'two', 'complete', 3),
        ],
        current_leaf_id: 'a2',
      }),
    )
    route('PATCH', /\/api\/conversations\/c1$/, () => json({ ...conversation, current_leaf_id: 'a1' }))
    const chat = useChatStore()
    await chat.open('c1')
    expect(chat.siblings('a2')).toMatchObject({ index: 1, total: 2 })
    await chat.showSibling('a1')
    expect(chat.thread.map((m) => m.id)).toEqual(['u1', 'a1'])
    expect(calls.find((c) => c.method === 'PATCH')?.body).toEqual({ current_leaf_id: 'a1' })
  })

  it('regenerates a sibling answer for the question', async () => {
    route('GET', /\/api\/conversations\/c1\/messages$/, () =>
      json({
        messages: [message('u1', null, 'user', 'Hi'), message('a1', 'u1', 'assistant', 'one', 'complete', 2)],
        current_leaf_id: 'a1',
      }),
    )
    route('POST', /\/messages\/u1\/regenerate$/, () =>
      sse([
        ['start', { conversation_id: 'c1', user_message_id: 'u1', message_id: 'a2', model: null }],
        ['delta', { text: 'two' }],
        ['done', { status: 'complete' }],
      ]),
    )
    const chat = useChatStore()
    await chat.open('c1')
    await chat.regenerate('a1')
    expect(chat.thread.map((m) => m.id)).toEqual(['u1', 'a2'])
    expect(chat.siblings('a2')).toMatchObject({ index: 1, total: 2, ids: ['a1', 'a2'] })
  })

  it('edits the first question as a new root sibling (parent_id null)', async () => {
    route('GET', /\/api\/conversations\/c1\/messages$/, () =>
      json({
        messages: [message('u1', null, 'user', 'Hi'), message('a1', 'u1', 'assistant', 'one', 'complete', 2)],
        current_leaf_id: 'a1',
      }),
    )
    route('POST', /\/api\/conversations\/c1\/messages$/, () =>
      sse([
        ['start', { conversation_id: 'c1', user_message_id: 'u2', message_id: 'a2', model: null }],
        ['delta', { text: 'two' }],
        ['done', { status: 'complete' }],
      ]),
    )
    const chat = useChatStore()
    await chat.open('c1')
    await chat.editAndResend('u1', 'Hello')
    expect(calls.find((c) => c.method === 'POST')?.body).toEqual({ content: 'Hello', parent_id: null })
    expect(chat.siblings('u2')).toMatchObject({ index: 1, total: 2 })
  })

  it('stops the live generation through the API', async () => {
    let release!: () => void
    const gate = new Promise<void>((r) => {
      release = r
    })
    route(
      'POST',
      /\/api\/conversations\/c1\/messages$/,
      () =>
        new Response(
          new ReadableStream({
            async start(c) {
              const enc = new TextEncoder()
              c.enqueue(
                enc.encode(
                  'id: 1\nevent: start\ndata: {"conversation_id":"c1","user_message_id":"u1","message_id":"a1","model":null}\n\n',
                ),
              )
              c.enqueue(enc.encode('id: 2\nevent: delta\ndata: {"text":"par"}\n\n'))
              await gate
              c.enqueue(enc.encode('id: 3\nevent: done\ndata: {"status":"stopped"}\n\n'))
              c.close()
            },
          }),
          { status: 200 },
        ),
    )
    route('POST', /\/api\/generations\/a1\/stop$/, () => {
      release()
      return json({ status: 'stopping' }, 202)
    })
    const chat = useChatStore()
    chat.adopt({ ...conversation })
    const sending = chat.send('Hi')
    await vi.waitFor(() => expect(chat.messages.a1?.content).toBe('par'))
    expect(chat.isGenerating).toBe(true)
    await chat.stop()
    await sending
    expect(chat.messages.a1.status).toBe('stopped')
    expect(chat.isGenerating).toBe(false)
  })
})
