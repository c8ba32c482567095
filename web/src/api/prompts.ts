/**
 * Prompt libraries on the server (docs/api.md, "Prompts"): the person's own prompts, and the
 * collection the administrators share with everyone, in the reader's language.
 */
import { requestJson } from './client'

export interface ServerPrompt {
  id: string
  key: string
  value: string
  created_at: string
  updated_at: string
}

export interface SharedPrompt {
  id: string
  key: string
  value: string
  /** The language of this text: the reader's, or a fallback. */
  locale: string
}

export interface PromptImportResult {
  added: number
  updated: number
  prompts: ServerPrompt[]
}

export type Translations = Record<string, { key: string; value: string }>

export interface AdminSharedPrompt {
  id: string
  translations: Translations
  position: number
  created_at: string
  updated_at: string
}

const enc = encodeURIComponent

export const promptsApi = {
  list: () => requestJson<ServerPrompt[]>('GET', '/api/prompts'),
  create: (body: { key: string; value: string }) => requestJson<ServerPrompt>('POST', '/api/prompts', body),
  update: (id: string, body: { key?: string; value?: string }) =>
    requestJson<ServerPrompt>('PATCH', `/api/prompts/${enc(id)}`, body),
  remove: (id: string) => requestJson<void>('DELETE', `/api/prompts/${enc(id)}`),
  clear: () => requestJson<void>('DELETE', '/api/prompts'),
  /** chatgpt-web's prompt JSON, merged into the library. */
  import: (items: { key: string; value: string }[]) =>
    requestJson<PromptImportResult>('POST', '/api/prompts/import', items),
  shared: (locale: string) => requestJson<SharedPrompt[]>('GET', `/api/prompts/shared?locale=${enc(locale)}`),
  exportUrl: '/api/prompts/export',
}

export const adminPromptsApi = {
  list: () => requestJson<AdminSharedPrompt[]>('GET', '/api/admin/prompts'),
  create: (translations: Translations) =>
    requestJson<AdminSharedPrompt>('POST', '/api/admin/prompts', { translations }),
  update: (id: string, translations: Translations) =>
    requestJson<AdminSharedPrompt>('PATCH', `/api/admin/prompts/${enc(id)}`, { translations }),
  remove: (id: string) => requestJson<void>('DELETE', `/api/admin/prompts/${enc(id)}`),
}
