import { describe, expect, it, vi } from 'vitest'
import { ApiError } from './client'
import { readTimedEvents, runGenerationStream, type TimedEvent } from './sse'
import type { StreamEvent } from './types'

const encoder = new TextEncoder()

function sseBody(chunks: string[]): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(encoder.encode(chunk))
      controller.close()
    },
  })
}

function streamResponse(chunks: string[]): Response {
  return new Response(sseBody(chunks), { status: 200, headers: { 'Content-Type': 'text/event-stream' } })
}

const FULL = [
  'id: 1\nevent: start\ndata: {"conversation_id":"c","user_message_id":"u","message_id":"g","model":"m"}\n\n',
  'id: 2\nevent: queued\ndata: {"position":2}\n\n',
  ': ping\n\n',
  'id: 3\nevent: streaming\ndata: {}\n\n',
  'id: 4\nevent: delta\ndata: {"text":"Hel"}\n\n',
  'id: 5\nevent: delta\ndata: {"text":"lo, 世界"}\n\n',
  'id: 6\nevent: usage\ndata: {"prompt_tokens":3,"completion_tokens":2}\n\n',
  'id: 7\nevent: done\ndata: {"status":"complete"}\n\n',
].join('')

function textOf(events: StreamEvent[]): string {
  return events
    .filter((e) => e.event === 'delta')
    .map((e) => (e.data as { text: string }).text)
    .join('')
}

const send = { method: 'POST' as const, url: '/api/conversations/c/messages', body: { content: 'hi', parent_id: null } }

describe('runGenerationStream', () => {
  it('parses a whole stream', async () => {
    const events: StreamEvent[] = []
    const fetchImpl = vi.fn(async () => streamResponse([FULL]))
    const outcome = await runGenerationStream({ request: send, onEvent: (e) => events.push(e), fetchImpl })
    expect(outcome).toBe('done')
    expect(events.map((e) => e.event)).toEqual(['start', 'queued', 'streaming', 'delta', 'delta', 'usage', 'done'])
    expect(textOf(events)).toBe('Hello, 世界')
    expect(events[1]).toEqual({ event: 'queued', data: { position: 2 }, id: '2' })
  })

  it('gives the same events whatever the chunk boundaries, even inside UTF-8 characters', async () => {
    const bytes = encoder.encode(FULL)
    for (let size = 1; size <= 17; size += 4) {
      for (let offset = 0; offset < size; offset++) {
        const chunks: Uint8Array[] = [bytes.subarray(0, offset)]
        for (let i = offset; i < bytes.length; i += size) chunks.push(bytes.subarray(i, i + size))
        const body = new ReadableStream<Uint8Array>({
          start(c) {
            for (const ch of chunks) c.enqueue(ch)
            c.close()
          },
        })
        const events: StreamEvent[] = []
        const fetchImpl = vi.fn(async () => new Response(body, { status: 200 }))
        await runGenerationStream({ request: send, onEvent: (e) => events.push(e), fetchImpl })
        expect(textOf(events)).toBe('Hello, 世界')
        expect(events.at(-1)?.event).toBe('done')
      }
    }
  })

  it('re-attaches with Last-Event-ID when the connection drops before done', async () => {
    const first = FULL.slice(0, FULL.indexOf('id: 5'))
    const rest = FULL.slice(FULL.indexOf('id: 5'))
    const calls: { url: string; init: RequestInit }[] = []
    const fetchImpl = vi.fn(async (url: string | URL | Request, init?: RequestInit) => {
      calls.push({ url: String(url), init: init! })
      return streamResponse(calls.length === 1 ? [first] : [rest])
    })
    const events: StreamEvent[] = []
    const outcome = await runGenerationStream({
      request: send,
      onEvent: (e) => events.push(e),
      fetchImpl: fetchImpl as typeof fetch,
      reconnectDelayMs: () => 0,
    })
    expect(outcome).toBe('done')
    expect(calls).toHaveLength(2)
    expect(calls[1].url).toBe('/api/generations/g/events')
    expect(calls[1].init.method).toBe('GET')
    expect((calls[1].init.headers as Record<string, string>)['Last-Event-ID']).toBe('4')
    expect(textOf(events)).toBe('Hello, 世界')
  })

  it('throws the API error when the request is refused before streaming', async () => {
    const fetchImpl = vi.fn(
      async () =>
        new Response(JSON.stringify({ error: { code: 'quota_exceeded', message: 'Daily quota used.' } }), {
          status: 429,
          headers: { 'Content-Type': 'application/json', 'Retry-After': '30' },
        }),
    )
    const error = await runGenerationStream({ request: send, onEvent: () => undefined, fetchImpl }).catch((e) => e)
    expect(error).toBeInstanceOf(ApiError)
    expect(error.code).toBe('quota_exceeded')
    expect(error.retryAfter).toBe(30)
  })

  it('does not re-post when the first request fails at the network level', async () => {
    const fetchImpl = vi.fn(async () => {
      throw new TypeError('Failed to fetch')
    })
    const error = await runGenerationStream({ request: send, onEvent: () => undefined, fetchImpl }).catch((e) => e)
    expect(error.code).toBe('network_error')
    expect(fetchImpl).toHaveBeenCalledTimes(1)
  })

  it('reports a lost stream when re-attaching is refused', async () => {
    let n = 0
    const fetchImpl = vi.fn(async () =>
      n++ === 0
        ? streamResponse([FULL.slice(0, FULL.indexOf('id: 4'))])
        : new Response('{"error":{"code":"not_found","message":"x"}}', { status: 404 }),
    )
    const outcome = await runGenerationStream({
      request: send,
      onEvent: () => undefined,
      fetchImpl,
      reconnectDelayMs: () => 0,
    })
    expect(outcome).toBe('lost')
  })

  it('stops after a bounded number of empty reconnects', async () => {
    const fetchImpl = vi.fn(async () => streamResponse([]))
    const outcome = await runGenerationStream({
      request: { method: 'GET', url: '/api/generations/g/events' },
      generationId: 'g',
      onEvent: () => undefined,
      fetchImpl,
      reconnectDelayMs: () => 0,
      maxReconnects: 3,
    })
    expect(outcome).toBe('lost')
    expect(fetchImpl).toHaveBeenCalledTimes(4)
  })

  it('ends quietly when aborted', async () => {
    const controller = new AbortController()
    const fetchImpl = vi.fn(
      async (_u: unknown, init?: RequestInit) =>
        new Response(
          new ReadableStream({
            start(c) {
              c.enqueue(encoder.encode('id: 1\nevent: delta\ndata: {"text":"a"}\n\n'))
              init!.signal!.addEventListener('abort', () => c.error(new DOMException('aborted', 'AbortError')))
            },
          }),
        ),
    )
    const events: StreamEvent[] = []
    const promise = runGenerationStream({
      request: send,
      generationId: 'g',
      onEvent: (e) => {
        events.push(e)
        controller.abort()
      },
      fetchImpl: fetchImpl as typeof fetch,
      signal: controller.signal,
    })
    expect(await promise).toBe('aborted')
    expect(events).toHaveLength(1)
  })

  it('ignores unknown events and malformed data', async () => {
    const events: StreamEvent[] = []
    const fetchImpl = vi.fn(async () =>
      streamResponse([
        'event: mystery\ndata: {}\n\n',
        'event: delta\ndata: {not json\n\n',
        'event: delta\ndata: {"text":"ok"}\n\n',
        'event: done\ndata: {"status":"complete"}\n\n',
      ]),
    )
    await runGenerationStream({ request: send, onEvent: (e) => events.push(e), fetchImpl })
    expect(events.map((e) => e.event)).toEqual(['delta', 'done'])
  })
})

describe('readTimedEvents (the connection self-test)', () => {
  it('stamps each event with its arrival time and stops at done', async () => {
    const ticks = [1, 2, 3].map((n) => `id: ${n}\nevent: tick\ndata: {"n":${n},"of":3,"sent_at":${1000 + n * 100}}\n\n`)
    let clock = 0
    const events: TimedEvent[] = []
    const fetchImpl = vi.fn(async () =>
      streamResponse([...ticks, 'id: 4\nevent: done\ndata: {}\n\n', 'event: tick\ndata: {}\n\n']),
    )
    await readTimedEvents('/api/admin/selftest/stream', (e) => events.push(e), { fetchImpl, now: () => (clock += 10) })
    expect(events.map((e) => [e.event, e.arrivedAt])).toEqual([
      ['tick', 10],
      ['tick', 20],
      ['tick', 30],
      ['done', 40],
    ])
    expect(events[0].data).toEqual({ n: 1, of: 3, sent_at: 1100 })
  })

  it("throws the server's error when the stream is refused", async () => {
    const fetchImpl = vi.fn(
      async () => new Response(JSON.stringify({ error: { code: 'forbidden', message: 'no' } }), { status: 403 }),
    )
    await expect(readTimedEvents('/x', () => undefined, { fetchImpl })).rejects.toMatchObject({
      code: 'forbidden',
      status: 403,
    })
  })
})

describe('errors keep their details', () => {
  it('a quota error carries quota, limit and resets_at', async () => {
    const body = {
      error: {
        code: 'quota_exceeded',
        message: 'm',
        quota: 'messages_per_day',
        limit: 5,
        resets_at: '2026-03-11T00:00:00+00:00',
      },
    }
    const fetchImpl = vi.fn(
      async () => new Response(JSON.stringify(body), { status: 429, headers: { 'Retry-After': '120' } }),
    )
    const error = await runGenerationStream({ request: send, onEvent: () => undefined, fetchImpl }).catch(
      (e: unknown) => e,
    )
    expect(error).toBeInstanceOf(ApiError)
    expect((error as ApiError).details).toEqual({
      quota: 'messages_per_day',
      limit: 5,
      resets_at: '2026-03-11T00:00:00+00:00',
    })
    expect((error as ApiError).retryAfter).toBe(120)
  })
})
