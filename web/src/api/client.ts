/**
 * The typed HTTP client. Every failure becomes an `ApiError` carrying the server's stable error
 * `code` (translated by the UI through `errors.<code>`). Cookies authenticate; nothing else does.
 */
import type {
  AuthConfig, Conversation, ConversationSettings, MessageTree, ModelList, Page, User,
} from './types'

/** Codes the UI produces itself, in addition to the server's. */
export type ClientErrorCode = 'network_error' | 'stream_interrupted'

export interface FieldError {
  loc: (string | number)[]
  message: string
}

export class ApiError extends Error {
  readonly status: number
  readonly code: string
  readonly fields: FieldError[]
  readonly retryAfter: number | null

  constructor(status: number, code: string, message: string, fields: FieldError[] = [], retryAfter: number | null = null) {
    super(message)
    this.name = 'ApiError'
    this.status = status
    this.code = code
    this.fields = fields
    this.retryAfter = retryAfter
  }
}

const STATUS_CODES: Record<number, string> = {
  400: 'bad_request', 401: 'unauthenticated', 403: 'forbidden', 404: 'not_found', 409: 'conflict',
  410: 'setup_used', 413: 'body_too_large', 422: 'validation_error', 429: 'rate_limited',
  502: 'upstream_error', 504: 'upstream_timeout',
}

/** Build an ApiError from a non-2xx response (the one error shape, or whatever a proxy sent). */
export async function errorFromResponse(res: Response): Promise<ApiError> {
  const retryHeader = res.headers.get('Retry-After')
  const retryAfter = retryHeader && /^\d+$/.test(retryHeader.trim()) ? Number(retryHeader) : null
  let code = STATUS_CODES[res.status] ?? 'internal_error'
  let message = res.statusText || `HTTP ${res.status}`
  let fields: FieldError[] = []
  try {
    const body = (await res.json()) as { error?: { code?: string; message?: string; fields?: FieldError[] } }
    if (body?.error?.code) {
      code = body.error.code
      message = body.error.message ?? message
      fields = body.error.fields ?? []
    }
  } catch {
    // not JSON (an HTML error page from a proxy): keep the status-derived code
  }
  return new ApiError(res.status, code, message, fields, retryAfter)
}

type UnauthenticatedHandler = () => void
let onUnauthenticated: UnauthenticatedHandler | null = null

/** Called when a signed-in request comes back 401 (session ended elsewhere). */
export function setUnauthenticatedHandler(handler: UnauthenticatedHandler | null): void {
  onUnauthenticated = handler
}

export function notifyUnauthenticated(): void {
  onUnauthenticated?.()
}

export interface RequestOptions {
  signal?: AbortSignal
  /** Do not call the unauthenticated handler on 401 (sign-in routes, the initial probe). */
  quiet401?: boolean
}

export async function fetchApi(method: string, path: string, body?: unknown, options: RequestOptions = {}): Promise<Response> {
  const headers: Record<string, string> = { Accept: 'application/json' }
  if (body !== undefined) headers['Content-Type'] = 'application/json'
  let res: Response
  try {
    res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
      signal: options.signal,
    })
  } catch (err) {
    if ((err as Error).name === 'AbortError') throw err
    throw new ApiError(0, 'network_error', (err as Error).message)
  }
  if (!res.ok) {
    const error = await errorFromResponse(res)
    if (res.status === 401 && !options.quiet401) notifyUnauthenticated()
    throw error
  }
  return res
}

export async function requestJson<T>(method: string, path: string, body?: unknown, options?: RequestOptions): Promise<T> {
  const res = await fetchApi(method, path, body, options)
  if (res.status === 204) return undefined as T
  const text = await res.text()
  return (text ? JSON.parse(text) : undefined) as T
}

const enc = encodeURIComponent

export const api = {
  auth: {
    config: () => requestJson<AuthConfig>('GET', '/api/auth/config', undefined, { quiet401: true }),
    me: () => requestJson<User>('GET', '/api/auth/me', undefined, { quiet401: true }),
    login: (body: { username?: string; password?: string }) =>
      requestJson<User>('POST', '/api/auth/login', body, { quiet401: true }),
    register: (body: { username: string; password: string; invite_code?: string }) =>
      requestJson<User | { status: 'pending' }>('POST', '/api/auth/register', body, { quiet401: true }),
    setup: (body: { token: string; username: string; password: string }) =>
      requestJson<User>('POST', '/api/auth/setup', body, { quiet401: true }),
    logout: () => requestJson<void>('POST', '/api/auth/logout', undefined, { quiet401: true }),
    changePassword: (body: { current_password: string; new_password: string }) =>
      requestJson<void>('POST', '/api/auth/password', body, { quiet401: true }),
  },
  conversations: {
    list: (params: { limit?: number; cursor?: string | null; q?: string }, signal?: AbortSignal) => {
      const query = new URLSearchParams()
      query.set('limit', String(params.limit ?? 50))
      if (params.cursor) query.set('cursor', params.cursor)
      if (params.q) query.set('q', params.q)
      return requestJson<Page<Conversation>>('GET', `/api/conversations?${query}`, undefined, { signal })
    },
    create: (body: { title?: string; settings?: Partial<ConversationSettings> }) =>
      requestJson<Conversation>('POST', '/api/conversations', body),
    get: (id: string) => requestJson<Conversation>('GET', `/api/conversations/${enc(id)}`),
    update: (id: string, body: { title?: string; settings?: Partial<ConversationSettings>; current_leaf_id?: string }) =>
      requestJson<Conversation>('PATCH', `/api/conversations/${enc(id)}`, body),
    remove: (id: string) => requestJson<void>('DELETE', `/api/conversations/${enc(id)}`),
    messages: (id: string, signal?: AbortSignal) =>
      requestJson<MessageTree>('GET', `/api/conversations/${enc(id)}/messages`, undefined, { signal }),
  },
  models: {
    list: () => requestJson<ModelList>('GET', '/api/models'),
  },
  generations: {
    stop: (id: string) => requestJson<void>('POST', `/api/generations/${enc(id)}/stop`),
  },
}

/** The requests that answer with a generation stream. */
export const streams = {
  send: (conversationId: string, body: { content: string; parent_id: string | null; model?: string }) =>
    ({ method: 'POST' as const, url: `/api/conversations/${enc(conversationId)}/messages`, body }),
  regenerate: (conversationId: string, messageId: string) =>
    ({ method: 'POST' as const, url: `/api/conversations/${enc(conversationId)}/messages/${enc(messageId)}/regenerate`, body: {} }),
  continue: (conversationId: string, messageId: string) =>
    ({ method: 'POST' as const, url: `/api/conversations/${enc(conversationId)}/messages/${enc(messageId)}/continue`, body: {} }),
  attach: (generationId: string) =>
    ({ method: 'GET' as const, url: `/api/generations/${enc(generationId)}/events` }),
}

export type StreamRequest = ReturnType<(typeof streams)[keyof typeof streams]>
