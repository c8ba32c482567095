/**
 * The one reader for generation streams (send, regenerate, continue and re-attach all use it):
 * fetch + eventsource-parser, cancellable with an AbortController. When the connection drops
 * before `done`, it re-attaches to `GET /api/generations/{id}/events` with `Last-Event-ID`, so
 * no event is lost or repeated.
 */
import { createParser, type EventSourceMessage } from 'eventsource-parser'
import { ApiError, errorFromResponse, noticeSessionEnd, streams, type StreamRequest } from './client'
import type { StreamEvent } from './types'

export type StreamOutcome = 'done' | 'aborted' | 'lost'

export interface GenerationStreamOptions {
  request: StreamRequest
  onEvent: (event: StreamEvent) => void
  signal?: AbortSignal
  /** The generation being re-attached to; otherwise learnt from the `start` event. */
  generationId?: string | null
  lastEventId?: string | null
  maxReconnects?: number
  reconnectDelayMs?: (attempt: number) => number
  fetchImpl?: typeof fetch
}

const KNOWN_EVENTS = new Set([
  'start',
  'queued',
  'streaming',
  'delta',
  'reasoning',
  'tool_call',
  'reset',
  'usage',
  'title',
  'error',
  'done',
])

function toStreamEvent(message: EventSourceMessage): StreamEvent | null {
  const name = message.event ?? 'message'
  if (!KNOWN_EVENTS.has(name)) return null
  let data: unknown
  try {
    data = message.data ? JSON.parse(message.data) : {}
  } catch {
    return null
  }
  return { event: name, data, id: message.id ?? null } as StreamEvent
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms)
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(timer)
        resolve()
      },
      { once: true },
    )
  })
}

/**
 * Feed a response body through the SSE parser, message by message, until the body ends or
 * `onMessage` returns true (the last event). Resolves true when it was stopped that way.
 */
async function pump(
  body: ReadableStream<Uint8Array>,
  onMessage: (message: EventSourceMessage) => boolean,
): Promise<boolean> {
  let finished = false
  const parser = createParser({
    onEvent(message) {
      if (finished) return
      if (onMessage(message)) finished = true
    },
  })
  const reader = body.getReader()
  const decoder = new TextDecoder()
  try {
    while (!finished) {
      const { value, done } = await reader.read()
      if (done) break
      parser.feed(decoder.decode(value, { stream: true }))
    }
    if (!finished) parser.feed(decoder.decode())
  } finally {
    if (finished) reader.cancel().catch(() => undefined)
    else reader.releaseLock()
  }
  return finished
}

/** Feed a generation stream's body through the parser; resolves true when `done` was seen. */
function readBody(
  body: ReadableStream<Uint8Array>,
  handle: (event: StreamEvent) => void,
  onId: (id: string) => void,
): Promise<boolean> {
  return pump(body, (message) => {
    if (message.id) onId(message.id)
    const event = toStreamEvent(message)
    if (!event) return false
    handle(event)
    return event.event === 'done'
  })
}

export interface TimedEvent {
  event: string
  data: unknown
  /** performance.now() when the parser produced the event (i.e. when its bytes arrived). */
  arrivedAt: number
}

/**
 * Read any other event stream (the admin's connection self-test, an upstream's test answer) to
 * its end or its `done` event, stamping each event with its arrival time. Throws ApiError when the server refuses.
 */
export async function readTimedEvents(
  url: string,
  onEvent: (event: TimedEvent) => void,
  options: { signal?: AbortSignal; fetchImpl?: typeof fetch; now?: () => number; body?: unknown } = {},
): Promise<void> {
  const doFetch = options.fetchImpl ?? fetch.bind(globalThis)
  const now = options.now ?? (() => performance.now())
  // With a body the stream answers a POST (an upstream's connection test), else a GET.
  const post = options.body !== undefined
  const headers: Record<string, string> = { Accept: 'text/event-stream' }
  if (post) headers['Content-Type'] = 'application/json'
  let res: Response
  try {
    res = await doFetch(url, {
      method: post ? 'POST' : 'GET',
      headers,
      body: post ? JSON.stringify(options.body) : undefined,
      credentials: 'same-origin',
      cache: 'no-store',
      signal: options.signal,
    })
  } catch (err) {
    if ((err as Error).name === 'AbortError') throw err
    throw new ApiError(0, 'network_error', (err as Error).message)
  }
  if (!res.ok) {
    const error = await errorFromResponse(res)
    noticeSessionEnd(error)
    throw error
  }
  if (!res.body) throw new ApiError(0, 'stream_interrupted', 'no body')
  await pump(res.body, (message) => {
    const arrivedAt = now()
    let data: unknown
    try {
      data = message.data ? JSON.parse(message.data) : null
    } catch {
      data = message.data
    }
    const name = message.event ?? 'message'
    onEvent({ event: name, data, arrivedAt })
    return name === 'done'
  })
}

/**
 * Run a generation stream to its `done` event. Throws ApiError when the server refuses the
 * request before streaming (validation, quota, unknown conversation).
 */
export async function runGenerationStream(options: GenerationStreamOptions): Promise<StreamOutcome> {
  const doFetch = options.fetchImpl ?? fetch.bind(globalThis)
  const maxReconnects = options.maxReconnects ?? 6
  const delay = options.reconnectDelayMs ?? ((attempt: number) => Math.min(500 * 2 ** attempt, 8000))
  let generationId = options.generationId ?? null
  let lastEventId = options.lastEventId ?? null
  let request = options.request
  let attempt = 0

  const handle = (event: StreamEvent): void => {
    if (event.event === 'start') generationId = event.data.message_id
    options.onEvent(event)
  }

  for (;;) {
    if (options.signal?.aborted) return 'aborted'
    const headers: Record<string, string> = { Accept: 'text/event-stream' }
    if (request.method === 'POST') headers['Content-Type'] = 'application/json'
    if (lastEventId && request.method === 'GET') headers['Last-Event-ID'] = lastEventId
    let res: Response
    try {
      res = await doFetch(request.url, {
        method: request.method,
        headers,
        body: 'body' in request ? JSON.stringify(request.body) : undefined,
        credentials: 'same-origin',
        cache: 'no-store',
        signal: options.signal,
      })
    } catch (err) {
      if (options.signal?.aborted) return 'aborted'
      // The first POST never reached the server (or we cannot know): report it, do not re-post.
      if (request.method === 'POST' && !generationId) throw new ApiError(0, 'network_error', (err as Error).message)
      if (!generationId || attempt >= maxReconnects) return 'lost'
      await sleep(delay(attempt++), options.signal)
      request = streams.attach(generationId)
      continue
    }
    if (!res.ok) {
      const error = await errorFromResponse(res)
      noticeSessionEnd(error)
      if (request.method === 'POST') throw error
      // A re-attach refused: the generation is over or gone; the caller reloads the stored answer.
      return 'lost'
    }
    if (!res.body) return 'lost'
    let finished = false
    try {
      finished = await readBody(res.body, handle, (id) => {
        lastEventId = id
        attempt = 0 // progress was made: the reconnect budget starts again
      })
    } catch {
      if (options.signal?.aborted) return 'aborted'
    }
    if (finished) return 'done'
    if (options.signal?.aborted) return 'aborted'
    if (!generationId || attempt >= maxReconnects) return 'lost'
    await sleep(delay(attempt++), options.signal)
    request = streams.attach(generationId)
  }
}
