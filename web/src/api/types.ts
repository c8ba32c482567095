/** The HTTP API contract (docs/api.md), as TypeScript types. */

export type AuthMode = 'accounts' | 'password' | 'open'
export type RegistrationPolicy = 'closed' | 'invite' | 'approval' | 'open'

/** A "Sign in with …" button: the browser goes to `start_url` (the server redirects to the provider). */
export interface SsoProvider {
  name: string
  label: string
  start_url: string
}

export interface AuthConfig {
  mode: AuthMode
  registration: RegistrationPolicy
  setup_required: boolean
  version: string
  announcement: string | null
  sso?: SsoProvider[]
  /** false: only the break-glass administrator signs in with a password. */
  local_passwords?: boolean
}

export interface User {
  id: string
  username: string
  role: 'admin' | 'user'
  status: 'active' | 'pending' | 'disabled'
  is_anonymous: boolean
  created_at: string
}

export interface ConversationSettings {
  model: string | null
  system_prompt: string
  temperature: number | null
  top_p: number | null
  max_tokens: number | null
  context_messages: number | null
  context_tokens: number | null
}

export interface Conversation {
  id: string
  title: string
  created_at: string
  updated_at: string
  current_leaf_id: string | null
  settings: ConversationSettings
}

export interface Page<T> {
  items: T[]
  next_cursor: string | null
}

export type MessageStatus = 'complete' | 'queued' | 'streaming' | 'stopped' | 'interrupted' | 'error'
export type FinalStatus = 'complete' | 'stopped' | 'interrupted' | 'error'

export interface ErrorBody {
  code: string
  message: string
  /** A live error's further fields: `retry_at`/`retry_after` (upstream_resting), `quota`… */
  [field: string]: unknown
}

export interface Message {
  id: string
  parent_id: string | null
  role: 'user' | 'assistant'
  content: string
  /** The model's reasoning, kept apart from the answer ('' when none). */
  reasoning: string
  status: MessageStatus
  model: string | null
  error: ErrorBody | null
  prompt_tokens: number | null
  completion_tokens: number | null
  created_at: string
  updated_at: string
  /** A question's attached files ([] or absent otherwise). */
  attachments?: Attachment[]
  /** An answer's typed parts beside its text: the function calls it made. */
  parts?: MessagePart[]
}

/** A file attached to a question (POST /api/attachments, and every message that carries it). */
export interface Attachment {
  id: string
  /** The file name as given (no path). */
  name: string
  kind: 'image' | 'document'
  /** Sniffed from the bytes by the server. */
  media_type: string
  /** Bytes stored (after re-encoding, for images). */
  size: number
  width: number | null
  height: number | null
  /** Documents: tokens of the extracted text. */
  tokens: number | null
  /** In English, e.g. "Truncated at page 12 (the file has 40 pages)." */
  note: string | null
}

/** A function call an answer made (the web app defines no tools yet: shown, never run). */
export interface ToolCallPart {
  type: 'tool_call'
  id: string
  name: string
  /** JSON text, as the model wrote it. */
  arguments: string
}

export type MessagePart = ToolCallPart | { type: string; [field: string]: unknown }

export interface MessageTree {
  messages: Message[]
  current_leaf_id: string | null
}

export interface ModelInfo {
  id: string
  provider: string
  /** The display name the administrator gave it (or its id). */
  name: string
  vision?: boolean
  reasoning?: boolean
}

export interface ModelList {
  default: string | null
  models: ModelInfo[]
  /** New chats are answered by the bundled offline demo model (no upstream configured). */
  bundled_demo?: boolean
}

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

export interface ApiKey {
  id: string
  name: string
  prefix: string
  created_at: string
  last_used_at: string | null
  revoked_at: string | null
  /** The whole key: only in the answer to its creation. */
  key?: string | null
}

// -- import, export, sharing ------------------------------------------------------------------

/** What became of one conversation of an imported file. */
export type ImportOutcomeKind = 'imported' | 'already_imported' | 'changed_since_import' | 'empty' | 'repeated_in_file'
export type ImportNote = 'empty_messages' | 'attachments_left_out' | 'other_roles_left_out'

export interface ImportOutcome {
  title: string
  outcome: ImportOutcomeKind
  /** The new conversation, or the copy already here. */
  conversation_id: string | null
  messages: number
  /** Its original dates, when the file says them. */
  created_at: string | null
  updated_at: string | null
  notes: Partial<Record<ImportNote, number>>
}

export interface ImportReport {
  format: string
  conversations: number
  messages: number
  conversation_ids: string[]
  counts: Partial<Record<ImportOutcomeKind, number>>
  outcomes: ImportOutcome[]
  skipped: { where: string; reason: string }[]
}

export type ExportFormat = 'json' | 'markdown' | 'html'

export interface ShareLink {
  id: string
  title: string
  created_at: string
  /** Only in the answer to its creation. */
  url?: string | null
}

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

export interface AdminUser extends User {
  quota: QuotaOverrides | null
}

export interface Invite {
  id: string
  role: 'admin' | 'user'
  max_uses: number
  use_count: number
  note: string
  created_at: string
  expires_at: string | null
  revoked_at: string | null
  /** Only in the answer to its creation. */
  code?: string | null
  url?: string | null
}

export interface InstanceSettings {
  registration: RegistrationPolicy
  sharing: boolean
  default_model: string | null
  announcement: string | null
}

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
export type ProviderKind = 'openai' | 'azure' | 'gemini' | 'mistral' | 'anthropic' | 'chatgpt_web' | 'local'

/** A credential as the console sees it: never its key or proxy, only whether it has one. */
export interface UpstreamCredential {
  id: string
  name: string
  has_key: boolean
  /** "sk-…c3f9": enough to tell keys apart, never enough to use one. */
  key_hint: string | null
  has_proxy: boolean
  concurrency: number | null
  requests_per_minute: number | null
  tokens_per_minute: number | null
  enabled: boolean
  /** From the scheduler; null when the credential is not running. */
  state: CredentialState | null
  last_error: string | null
}

export interface ModelSetting {
  provider: string
  /** The id people and API clients use. */
  id: string
  display_name: string | null
  enabled: boolean
  context_window: number | null
  vision: boolean
  reasoning: boolean
  /** USD per million tokens. */
  input_price: number | null
  output_price: number | null
  /** null = everyone. */
  allowed_roles: string[] | null
  allowed_users: string[] | null
}

export type ModelSettingPatch = Omit<ModelSetting, 'provider' | 'id'>

export interface UpstreamProvider {
  /** null for providers from the configuration file. */
  id: string | null
  name: string
  kind: ProviderKind
  base_url: string | null
  api_version: string | null
  has_proxy: boolean
  enabled: boolean
  /** "file": chatgate.toml, the environment or the bundled model: read-only here. */
  source: 'console' | 'file'
  credentials: UpstreamCredential[]
  models: ModelSetting[]
  usable: boolean
}

export interface UpstreamsOverview {
  providers: UpstreamProvider[]
  default_model: string | null
  bundled_demo: boolean
}

/** A service not saved yet: enough to list its models or test it. */
export interface UnsavedService {
  kind: ProviderKind
  base_url?: string
  api_version?: string
  proxy?: string
  api_key?: string
}

export interface NewProvider extends UnsavedService {
  name: string
  concurrency?: number
  requests_per_minute?: number
  tokens_per_minute?: number
  /** Enabled at once; the first becomes the default model when only the demo model was. */
  models?: string[]
}

/** `proxy: ""` removes the proxy; a field left out stays as it is. */
export interface ProviderPatch {
  name?: string
  base_url?: string
  api_version?: string
  proxy?: string
  enabled?: boolean
}

/** `api_key` left out keeps the saved key. */
export interface CredentialBody {
  name?: string
  api_key?: string
  proxy?: string
  concurrency?: number | null
  requests_per_minute?: number | null
  tokens_per_minute?: number | null
  enabled?: boolean
}
