/**
 * What deleting a message takes with it, for the confirmation to say so: the message and its
 * whole subtree (for a question: its answers, then every later message below them).
 */
import type { MessageMap } from './tree'

export interface DeletionScope {
  role: 'user' | 'assistant'
  /** Everything that goes, the message included. */
  ids: string[]
  /** For a question: its answers (the versions below it). */
  answers: number
  /** Messages below the message (for a question: below its answers). */
  later: number
}

export function deletionScope(messages: MessageMap, id: string): DeletionScope | null {
  const message = messages[id]
  if (!message) return null
  const children = new Map<string, string[]>()
  for (const m of Object.values(messages)) {
    if (!m.parent_id) continue
    const list = children.get(m.parent_id) ?? []
    list.push(m.id)
    children.set(m.parent_id, list)
  }
  const ids = [id]
  const seen = new Set(ids)
  for (let i = 0; i < ids.length; i++) {
    for (const child of children.get(ids[i]) ?? []) {
      if (!seen.has(child)) {
        seen.add(child)
        ids.push(child)
      }
    }
  }
  const answers =
    message.role === 'user' ? (children.get(id) ?? []).filter((c) => messages[c]?.role === 'assistant').length : 0
  return { role: message.role, ids, answers, later: ids.length - 1 - answers }
}

/** The confirmation's message key and its count, e.g. ['chat.deleteQuestionAnswers', 2]. */
export function deletionText(scope: DeletionScope): [string, number] {
  if (scope.role === 'assistant') {
    return scope.later ? ['chat.deleteAnswerAndLater', scope.later] : ['chat.deleteAnswerOnly', 1]
  }
  if (scope.later) return ['chat.deleteQuestionAndLater', scope.ids.length - 1]
  return scope.answers ? ['chat.deleteQuestionAnswers', scope.answers] : ['chat.deleteQuestionOnly', 1]
}
