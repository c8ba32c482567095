/**
 * The typed HTTP client. Every failure becomes an `ApiError` carrying the server's stable error
 * `code` (translated by the UI through `errors.<code>`). Cookies authenticate; nothing else does.
 */
import type {
  AccountUsage,
  AdminUser,
  ApiKey,
  AuditEntry,
  AuthConfig,
  Conversation,
  ConversationSettings,
  CredentialBody,
  ExportFormat,
  ImportReport,
  InstanceSettings,
  Invite,
  MessageTree,
  ModelList,
  ModelSetting,
  ModelSettingPatch,
  NewProvider,
  Page,
  ProviderPatch,
  ProviderStatus,
  QuotaOverrides,
  SharedConversation,
  ShareLink,
  UnsavedService,
  UpstreamCredential,
  UpstreamProvider,
  UpstreamsOverview,
  UsageGroup,
  UsageRow,
  User,
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
  /** The error's other fields (a quota error's `quota`, `limit`, `resets_at`). */
  readonly details: Record<string, unknown>

  constructor(
    status: number,
    code: string,
    message: string,
    fields: FieldError[] = [],
    retryAfter: number | null = null,
    details: Record<string, unknown> = {},
  ) {
    super(message)
    this.name = 'ApiError'
    this.status = status
    this.code = code
    this.fields = fields
    this.retryAfter = retryAfter
    this.details = details
  }
}

const STATUS_CODES: Record<number, string> = {
  400: 'bad_request',
  401: 'unauthenticated',
  403: 'forbidden',
  404: 'not_found',
  409: 'conflict',
  410: 'setup_used',
  413: 'body_too_large',
  422: 'validation_error',
  429: 'rate_limited',
  502: 'upstream_error',
  504: 'upstream_timeout',
}

/** Build an ApiError from a status and body (the one error shape, or whatever a proxy sent). */
export function errorFromBody(status: number, statusText: string, text: string, retryHeader: string | null): ApiError {
  const retryAfter = retryHeader && /^\d+$/.test(retryHeader.trim()) ? Number(retryHeader) : null
  let code = STATUS_CODES[status] ?? 'internal_error'
  let message = statusText || `HTTP ${status}`
  let fields: FieldError[] = []
  let details: Record<string, unknown> = {}
  try {
    const body = JSON.parse(text) as { error?: { code?: string; message?: string; fields?: FieldError[] } }
    if (body?.error?.code) {
      const { code: c, message: m, fields: f, ...rest } = body.error
      code = c as string
      message = m ?? message
      fields = f ?? []
      details = rest
    }
  } catch {
    // not JSON (an HTML error page from a proxy): keep the status-derived code
  }
  return new ApiError(status, code, message, fields, retryAfter, details)
}

/** Build an ApiError from a non-2xx response. */
export async function errorFromResponse(res: Response): Promise<ApiError> {
  let text: string
  try {
    text = await res.text()
  } catch {
    text = ''
  }
  return errorFromBody(res.status, res.statusText, text, res.headers.get('Retry-After'))
}

/** Why the session is over: it ended (signed out elsewhere, expired, the account disabled), or the server said the account is disabled. */
export type SessionEnd = 'ended' | 'account_disabled'
type UnauthenticatedHandler = (reason: SessionEnd) => void
let onUnauthenticated: UnauthenticatedHandler | null = null

/** Called when a signed-in request comes back 401 (session ended elsewhere) or 403 account_disabled. */
export function setUnauthenticatedHandler(handler: UnauthenticatedHandler | null): void {
  onUnauthenticated = handler
}

export function notifyUnauthenticated(reason: SessionEnd = 'ended'): void {
  onUnauthenticated?.(reason)
}

/** Tell the app when a failed response means the session is over. */
export function noticeSessionEnd(error: ApiError): void {
  if (error.status === 401) notifyUnauthenticated('ended')
  else if (error.status === 403 && error.code === 'account_disabled') notifyUnauthenticated('account_disabled')
}

export interface RequestOptions {
  signal?: AbortSignal
  /** Do not call the unauthenticated handler on 401 (sign-in routes, the initial probe). */
  quiet401?: boolean
}

export async function fetchApi(
  method: string,
  path: string,
  body?: unknown,
  options: RequestOptions = {},
): Promise<Response> {
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
    if (!options.quiet401) noticeSessionEnd(error)
    throw error
  }
  return res
}

export async function requestJson<T>(
  method: string,
  path: string,
  body?: unknown,
  options?: RequestOptions,
): Promise<T> {
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
    /** 200 with the provider's sign-out page after an organisation sign-in, else 204. */
    logout: () =>
      requestJson<{ end_session_url: string } | undefined>('POST', '/api/auth/logout', undefined, { quiet401: true }),
    ssoLinkOffer: () =>
      requestJson<{ provider: string; username: string }>('GET', '/api/auth/oidc/link', undefined, { quiet401: true }),
    /** With the local account's password: link. Without: a separate account (202 while it waits for approval). */
    ssoLink: (body: { password: string | null }) =>
      requestJson<User | undefined>('POST', '/api/auth/oidc/link', body, { quiet401: true }),
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
    update: (
      id: string,
      body: { title?: string; settings?: Partial<ConversationSettings>; current_leaf_id?: string },
    ) => requestJson<Conversation>('PATCH', `/api/conversations/${enc(id)}`, body),
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
  account: {
    usage: () => requestJson<AccountUsage>('GET', '/api/account/usage'),
    keys: () => requestJson<ApiKey[]>('GET', '/api/account/keys'),
    createKey: (name: string) => requestJson<ApiKey>('POST', '/api/account/keys', { name }),
    revokeKey: (id: string) => requestJson<void>('DELETE', `/api/account/keys/${enc(id)}`),
  },
  shares: {
    create: (conversationId: string) =>
      requestJson<ShareLink>('POST', `/api/conversations/${enc(conversationId)}/shares`),
    list: (conversationId: string) =>
      requestJson<ShareLink[]>('GET', `/api/conversations/${enc(conversationId)}/shares`),
    revoke: (id: string) => requestJson<void>('DELETE', `/api/shares/${enc(id)}`),
    /** Public: no session needed, and a 401 here must not send anyone to the sign-in page. */
    open: (token: string) =>
      requestJson<SharedConversation>('GET', `/api/shared/${enc(token)}`, undefined, { quiet401: true }),
  },
  admin: {
    users: () => requestJson<AdminUser[]>('GET', '/api/admin/users'),
    createUser: (body: { username: string; password: string; role: 'admin' | 'user' }) =>
      requestJson<AdminUser>('POST', '/api/admin/users', body),
    updateUser: (
      id: string,
      body: { role?: 'admin' | 'user'; status?: 'active' | 'pending' | 'disabled'; quota?: QuotaOverrides },
    ) => requestJson<AdminUser>('PATCH', `/api/admin/users/${enc(id)}`, body),
    resetPassword: (id: string, password: string) =>
      requestJson<void>('POST', `/api/admin/users/${enc(id)}/password`, { password }),
    signOutEverywhere: (id: string) => requestJson<void>('POST', `/api/admin/users/${enc(id)}/signout`),
    invites: () => requestJson<Invite[]>('GET', '/api/admin/invites'),
    createInvite: (body: { max_uses: number; days: number | null; role: 'admin' | 'user'; note: string }) =>
      requestJson<Invite>('POST', '/api/admin/invites', body),
    revokeInvite: (id: string) => requestJson<void>('DELETE', `/api/admin/invites/${enc(id)}`),
    settings: () => requestJson<InstanceSettings>('GET', '/api/admin/settings'),
    updateSettings: (body: Partial<InstanceSettings>) =>
      requestJson<InstanceSettings>('PATCH', '/api/admin/settings', body),
    providers: (signal?: AbortSignal) =>
      requestJson<ProviderStatus[]>('GET', '/api/admin/providers', undefined, { signal }),
    /** "Try now": end a credential's rest or cool-down at once. */
    retryCredential: (provider: string, credential: string) =>
      requestJson<void>('POST', `/api/admin/providers/${enc(provider)}/credentials/${enc(credential)}/retry`),
    usage: (params: { since?: string; until?: string; group: UsageGroup[] }) =>
      requestJson<UsageRow[]>('GET', `/api/admin/usage?${usageQuery(params)}`),
    audit: () => requestJson<AuditEntry[]>('GET', '/api/admin/audit'),
    /** Providers, credentials and models as configured (the console's and the file's). */
    upstreams: {
      list: (signal?: AbortSignal) => requestJson<UpstreamsOverview>('GET', UPSTREAMS, undefined, { signal }),
      create: (body: NewProvider) => requestJson<UpstreamProvider>('POST', `${UPSTREAMS}/providers`, body),
      update: (id: string, body: ProviderPatch) =>
        requestJson<UpstreamProvider>('PATCH', `${UPSTREAMS}/providers/${enc(id)}`, body),
      remove: (id: string) => requestJson<void>('DELETE', `${UPSTREAMS}/providers/${enc(id)}`),
      addCredential: (id: string, body: CredentialBody) =>
        requestJson<UpstreamCredential>('POST', `${UPSTREAMS}/providers/${enc(id)}/credentials`, body),
      updateCredential: (id: string, credentialId: string, body: CredentialBody) =>
        requestJson<UpstreamCredential>(
          'PATCH',
          `${UPSTREAMS}/providers/${enc(id)}/credentials/${enc(credentialId)}`,
          body,
        ),
      removeCredential: (id: string, credentialId: string) =>
        requestJson<void>('DELETE', `${UPSTREAMS}/providers/${enc(id)}/credentials/${enc(credentialId)}`),
      /** The models a service offers, saved or not (`/v1/models`, Anthropic's list, Ollama's tags). */
      discover: (target: UpstreamTarget) =>
        requestJson<{ models: string[] }>(
          'POST',
          `${targetPath(target)}/discover`,
          'service' in target ? target.service : {},
        ),
      /** `model_id` may hold "/" and ":" (the route takes a path): each segment is encoded on its own. */
      saveModel: (provider: string, modelId: string, body: Partial<ModelSettingPatch> & { enabled: boolean }) =>
        requestJson<ModelSetting>(
          'PUT',
          `${UPSTREAMS}/models/${enc(provider)}/${modelId.split('/').map(enc).join('/')}`,
          body,
        ),
    },
  },
}

const UPSTREAMS = '/api/admin/upstreams'

/** A service to list models of or to test: unsaved (the form's fields), saved in the console, or from the file. */
export type UpstreamTarget = { service: UnsavedService } | { providerId: string } | { fileProvider: string }

function targetPath(target: UpstreamTarget): string {
  if ('service' in target) return UPSTREAMS
  if ('providerId' in target) return `${UPSTREAMS}/providers/${enc(target.providerId)}`
  return `${UPSTREAMS}/file/${enc(target.fileProvider)}`
}

/** The connection test's event stream (delta…, done or error): its URL and JSON body. */
export function upstreamTest(
  target: UpstreamTarget,
  model: string,
  credentialId?: string,
): { url: string; body: Record<string, unknown> } {
  const body: Record<string, unknown> = 'service' in target ? { ...target.service, model } : { model }
  // A file provider's credentials are not the console's: its test takes only the model.
  if (credentialId && 'providerId' in target) body.credential_id = credentialId
  return { url: `${targetPath(target)}/test`, body }
}

function usageQuery(params: { since?: string; until?: string; group?: UsageGroup[] }): URLSearchParams {
  const query = new URLSearchParams()
  if (params.since) query.set('since', params.since)
  if (params.until) query.set('until', params.until)
  if (params.group?.length) query.set('group', params.group.join(','))
  return query
}

/** Download links (plain GETs with the session cookie; the server sends them as attachments). */
export const links = {
  /** `lang` names the words of the HTML page ("You", "Stopped" …). */
  exportAll: (format: ExportFormat, lang?: string) =>
    `/api/export?format=${format}${lang ? `&lang=${encodeURIComponent(lang)}` : ''}`,
  exportOne: (conversationId: string, format: ExportFormat) =>
    `/api/conversations/${enc(conversationId)}/export?format=${format}`,
  usageCsv: (params: { since?: string; until?: string }) => `/api/admin/usage.csv?${usageQuery(params)}`,
  selftest: '/api/admin/selftest/stream',
}

export interface UploadProgress {
  loaded: number
  total: number
}

/**
 * Upload an export file to `POST /api/import` (the body is the file itself), reporting upload
 * progress. XMLHttpRequest, because fetch cannot report upload progress. `timeZone`: the IANA
 * zone chatgpt-web's local message times are read in when the file itself cannot tell.
 */
export function uploadImport(
  file: Blob,
  onProgress: (p: UploadProgress) => void,
  signal?: AbortSignal,
  timeZone?: string,
): Promise<ImportReport> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest()
    xhr.open('POST', timeZone ? `/api/import?timezone=${encodeURIComponent(timeZone)}` : '/api/import')
    xhr.withCredentials = true
    xhr.setRequestHeader('Accept', 'application/json')
    xhr.setRequestHeader('Content-Type', 'application/json')
    xhr.upload.onprogress = (e) => onProgress({ loaded: e.loaded, total: e.lengthComputable ? e.total : file.size })
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        try {
          resolve(JSON.parse(xhr.responseText) as ImportReport)
        } catch (err) {
          reject(new ApiError(xhr.status, 'internal_error', String(err)))
        }
        return
      }
      const error = errorFromBody(xhr.status, xhr.statusText, xhr.responseText, xhr.getResponseHeader('Retry-After'))
      noticeSessionEnd(error)
      reject(error)
    }
    xhr.onerror = () => reject(new ApiError(0, 'network_error', 'upload failed'))
    xhr.onabort = () => reject(new DOMException('aborted', 'AbortError'))
    signal?.addEventListener('abort', () => xhr.abort(), { once: true })
    xhr.send(file)
  })
}

/** The requests that answer with a generation stream. */
export const streams = {
  send: (
    conversationId: string,
    body: { content: string; parent_id: string | null; model?: string; attachments?: string[] },
  ) => ({ method: 'POST' as const, url: `/api/conversations/${enc(conversationId)}/messages`, body }),
  regenerate: (conversationId: string, messageId: string) => ({
    method: 'POST' as const,
    url: `/api/conversations/${enc(conversationId)}/messages/${enc(messageId)}/regenerate`,
    body: {},
  }),
  continue: (conversationId: string, messageId: string) => ({
    method: 'POST' as const,
    url: `/api/conversations/${enc(conversationId)}/messages/${enc(messageId)}/continue`,
    body: {},
  }),
  attach: (generationId: string) => ({ method: 'GET' as const, url: `/api/generations/${enc(generationId)}/events` }),
}

export type StreamRequest = ReturnType<(typeof streams)[keyof typeof streams]>
