/**
 * Prompt lists in chatgpt-web's prompt-store format: `[{"key": "title", "value": "prompt text"}]`.
 * (Also accepts the `{act, prompt}` shape of the popular awesome-chatgpt-prompts JSON.)
 */
export interface Prompt {
  key: string
  value: string
}

export class PromptImportError extends Error {}

const MAX_KEY = 200
const MAX_VALUE = 20_000

export function parsePromptList(text: string): Prompt[] {
  let data: unknown
  try {
    data = JSON.parse(text)
  } catch {
    throw new PromptImportError('not_json')
  }
  if (!Array.isArray(data)) throw new PromptImportError('not_a_list')
  const prompts: Prompt[] = []
  for (const item of data) {
    if (!item || typeof item !== 'object') continue
    const record = item as Record<string, unknown>
    const key = record.key ?? record.act
    const value = record.value ?? record.prompt
    if (typeof key !== 'string' || typeof value !== 'string') continue
    const k = key.trim().slice(0, MAX_KEY)
    const v = value.slice(0, MAX_VALUE)
    if (k && v.trim()) prompts.push({ key: k, value: v })
  }
  if (data.length && !prompts.length) throw new PromptImportError('no_prompts')
  return prompts
}

export interface MergeResult {
  prompts: Prompt[]
  added: number
  updated: number
}

/** Merge imported prompts into the library; an existing title gets the imported text. */
export function mergePrompts(existing: Prompt[], incoming: Prompt[]): MergeResult {
  const prompts = existing.map((p) => ({ ...p }))
  const index = new Map(prompts.map((p, i) => [p.key, i]))
  let added = 0
  let updated = 0
  for (const p of incoming) {
    const at = index.get(p.key)
    if (at === undefined) {
      index.set(p.key, prompts.length)
      prompts.push({ ...p })
      added++
    } else if (prompts[at].value !== p.value) {
      prompts[at].value = p.value
      updated++
    }
  }
  return { prompts, added, updated }
}

export function serializePrompts(prompts: Prompt[]): string {
  return JSON.stringify(
    prompts.map(({ key, value }) => ({ key, value })),
    null,
    2,
  )
}

/** Prompts whose title (or text) matches what follows the `/`, titles first. */
export function searchPrompts(prompts: Prompt[], query: string, limit = 8): Prompt[] {
  const q = query.trim().toLowerCase()
  if (!q) return prompts.slice(0, limit)
  const byKey = prompts.filter((p) => p.key.toLowerCase().includes(q))
  const byValue = prompts.filter((p) => !byKey.includes(p) && p.value.toLowerCase().includes(q))
  return [...byKey, ...byValue].slice(0, limit)
}
