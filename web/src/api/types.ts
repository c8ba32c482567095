/**
 * The HTTP API contract (docs/api.md), as TypeScript types, under the names the app uses. Most are
 * the server's own schemas, generated from its /openapi.json into `openapi.d.ts` (`make web-types`;
 * `make web-types-check` fails when they drift). Kept by hand: what the OpenAPI document does not
 * describe (the stream's events, free-form JSON answers such as usage, audit and shared links), and
 * a field narrowed where the server's schema is a plain string or object (`Narrow`).
 */
import type { components } from './openapi'

type Schemas = components['schemas']
/** `T` with the fields of `U` in place of its own. */
type Narrow<T, U> = Omit<T, keyof U> & U

export type AuthMode = Schemas['AuthConfigOut']['mode']
export type RegistrationPolicy = Schemas['AuthConfigOut']['registration']

/** A "Sign in with …" button: the browser goes to `start_url` (the server redirects to the provider). */
export type SsoProvider = Schemas['SsoProviderOut']
/** The server always sends `sso` and `local_passwords`; the app does without them (as its tests' configs do). */
export type AuthConfig = Narrow<Schemas['AuthConfigOut'], { sso?: SsoProvider[]; local_passwords?: boolean }>
export type User = Schemas['UserOut']
export type ConversationSettings = Schemas['SettingsOut']
export type Conversation = Schemas['ConversationOut']

export interface Page<T> {
  items: T[]
  next_cursor: string | null
}

export type MessageStatus = Schemas['MessageOut']['status']
export type FinalStatus = 'complete' | 'stopped' | 'interrupted' | 'error'

export interface ErrorBody {
  code: string
  message: string
  /** A live error's further fields: `retry_at`/`retry_after` (upstream_resting), `quota`… */
  [field: string]: unknown
}

export type Message = Narrow<
  Schemas['MessageOut'],
  {
    /** The conversation routes answer with questions and answers only (a system prompt is a setting). */
    role: 'user' | 'assistant'
    /** A live error carries further fields. */
    error: ErrorBody | null
    /** An answer's typed parts beside its text: the function calls it made. */
    parts?: MessagePart[]
  }
>

/** A file attached to a question (POST /api/attachments, and every message that carries it). */
export type Attachment = Schemas['AttachmentOut']

/** A function call an answer made (the web app defines no tools yet: shown, never run). */
export interface ToolCallPart {
  type: 'tool_call'
  id: string
  name: string
  /** JSON text, as the model wrote it. */
  arguments: string
}

export type MessagePart = ToolCallPart | { type: string; [field: string]: unknown }

export type MessageTree = Narrow<Schemas['MessageList'], { messages: Message[] }>
export type ModelInfo = Schemas['ModelOut']
export type ModelList = Schemas['ModelsOut']

/** The events of a generation stream (`data:` payloads by `event:` name). */
export interface StreamEvents {
  start: { conversation_id: string; user_message_id: string; message_id: string; model: string | null }
  queued: { position: number }
  streaming: Record<string, never>
  delta: { text: string }
  /** A piece of a function call: the first piece of each `index` names it, later ones add argument text. */
  tool_call: { index: number; id: string | null; name: string | null; arguments: string }
  /** A piece of the model's reasoning (before or among the deltas). */
  reasoning: { text: string }
  /** Replace the answer so far (and its reasoning, when the server sends it). */
  reset: { text: string; reasoning?: string }
  usage: { prompt_tokens: number | null; completion_tokens: number | null }
  title: { title: string }
  error: ErrorBody
  done: { status: FinalStatus }
}

export type StreamEvent = {
  [K in keyof StreamEvents]: { event: K; data: StreamEvents[K]; id: string | null }
}[keyof StreamEvents]

// -- account ----------------------------------------------------------------------------------

/** The quotas a person has (GET /api/account/usage), in a stable display order. */
export const QUOTA_NAMES = [
  'requests_per_hour',
  'concurrent_generations',
  'messages_per_day',
  'messages_per_month',
  'tokens_per_day',
  'tokens_per_month',
] as const
export type QuotaName = (typeof QUOTA_NAMES)[number]

export interface QuotaLine {
  /** `null` = unlimited. */
  limit: number | null
  used: number
  remaining: number | null
  resets_at: string | null
}

export type AccountUsage = Record<QuotaName, QuotaLine> & {
  max_input_tokens: number | null
  allowed_models: string[] | null
}

export type ApiKey = Schemas['ApiKeyOut']

// -- import, export, sharing ------------------------------------------------------------------

/** What became of one conversation of an imported file. */
export type ImportOutcomeKind = Schemas['ImportOutcomeOut']['outcome']
export type ImportNote = 'empty_messages' | 'attachments_left_out' | 'other_roles_left_out'

/** The generated maps are keyed by any string: narrowed to the keys the server names. */
export type ImportOutcome = Narrow<Schemas['ImportOutcomeOut'], { notes: Partial<Record<ImportNote, number>> }>

export type ImportReport = Narrow<
  Schemas['ImportReportOut'],
  {
    counts: Partial<Record<ImportOutcomeKind, number>>
    outcomes: ImportOutcome[]
    skipped: { where: string; reason: string }[]
  }
>

export type ExportFormat = 'json' | 'markdown' | 'html'

export type ShareLink = Schemas['ShareOut']

export interface SharedConversation {
  title: string
  shared_at: string
  messages: {
    role: 'user' | 'assistant'
    content: string
    model: string | null
    created_at: string
    /** Files of links made since attachments exist (older links have none). */
    attachments?: Attachment[]
    parts?: MessagePart[]
  }[]
}

// -- administration ---------------------------------------------------------------------------

/** Per-user quota overrides: a key left out inherits, a key set to null is unlimited. */
export type QuotaOverrides = Partial<Record<QuotaName | 'max_input_tokens', number | null>> & {
  allowed_models?: string[] | null
}

/** The server's schemas say "object" and "string" here: narrowed to what it sends. */
export type AdminUser = Narrow<Schemas['AdminUserOut'], { quota: QuotaOverrides | null }>
export type Invite = Narrow<Schemas['InviteOut'], { role: User['role'] }>
export type InstanceSettings = Narrow<Schemas['InstanceSettingsOut'], { registration: RegistrationPolicy }>

/** ready: takes requests; cooling_down: after a 429 (Retry-After); resting: refused (401/403/402). */
export type CredentialState = 'ready' | 'cooling_down' | 'resting'

export interface CredentialStatus {
  name: string
  concurrency: number
  in_flight: number
  requests: number
  cooling_down_seconds: number
  failing: boolean
  state: CredentialState
  /** The upstream's last error message (redacted). */
  last_error: string | null
  last_error_at: string | null
  /** When a cooling or resting credential is tried again. */
  next_try_at: string | null
  /** How many times in a row it was refused. */
  rests: number
}

export interface ProviderStatus {
  name: string
  kind: string
  models: string[]
  queue_length: number
  /** false while every credential rests or cools down: none of its models can answer. */
  usable: boolean
  credentials: CredentialStatus[]
}

export type UsageGroup = 'day' | 'user' | 'model'

export interface UsageRow {
  day?: string
  user?: string
  model?: string
  requests: number
  prompt_tokens: number
  completion_tokens: number
  cost_usd: number
}

export interface AuditEntry {
  id: string
  actor: string | null
  action: string
  target_user_id: string | null
  detail: string | null
  created_at: string
}

// -- upstreams managed in the console (issue 18) ----------------------------------------------

/** The provider kinds the console can add (`local` is configuration-file only). */
export type ProviderKind = Schemas['DiscoverIn']['kind']

/** A credential as the console sees it: never its key or proxy, only whether it has one. */
export type UpstreamCredential = Narrow<Schemas['CredentialOut'], { state: CredentialState | null }>

export type ModelSetting = Schemas['ModelSettingOut']
export type ModelSettingPatch = Omit<ModelSetting, 'provider' | 'id'>

export type UpstreamProvider = Narrow<Schemas['ProviderOut'], { kind: ProviderKind; credentials: UpstreamCredential[] }>
export type UpstreamsOverview = Narrow<Schemas['UpstreamsOut'], { providers: UpstreamProvider[] }>

/** A service not saved yet: enough to list its models or test it. */
export type UnsavedService = Schemas['DiscoverIn']
export type NewProvider = Schemas['ProviderIn']
/** `proxy: ""` removes the proxy; a field left out stays as it is. */
export type ProviderPatch = Schemas['ProviderPatch']
/** `api_key` left out keeps the saved key. */
export type CredentialBody = Schemas['CredentialPatch']
