/** The HTTP API contract (docs/api.md), as TypeScript types. */

export type AuthMode = 'accounts' | 'password' | 'open'
export type RegistrationPolicy = 'closed' | 'invite' | 'approval' | 'open'

export interface AuthConfig {
  mode: AuthMode
  registration: RegistrationPolicy
  setup_required: boolean
  version: string
  announcement: string | null
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
}

export interface Message {
  id: string
  parent_id: string | null
  role: 'user' | 'assistant'
  content: string
  status: MessageStatus
  model: string | null
  error: ErrorBody | null
  prompt_tokens: number | null
  completion_tokens: number | null
  created_at: string
  updated_at: string
}

export interface MessageTree {
  messages: Message[]
  current_leaf_id: string | null
}

export interface ModelInfo {
  id: string
  provider: string
  name: string
}

export interface ModelList {
  default: string | null
  models: ModelInfo[]
}

/** The events of a generation stream (`data:` payloads by `event:` name). */
export interface StreamEvents {
  start: { conversation_id: string; user_message_id: string; message_id: string; model: string | null }
  queued: { position: number }
  streaming: Record<string, never>
  delta: { text: string }
  reset: { text: string }
  usage: { prompt_tokens: number | null; completion_tokens: number | null }
  title: { title: string }
  error: ErrorBody
  done: { status: FinalStatus }
}

export type StreamEvent = {
  [K in keyof StreamEvents]: { event: K; data: StreamEvents[K]; id: string | null }
}[keyof StreamEvents]
