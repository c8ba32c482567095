/**
 * The conversation is a tree of messages (parent_id). What is shown is the path from the root to
 * the current leaf; siblings (same parent) are alternative questions or answers.
 */
import type { Message } from '@/api/types'

export type MessageMap = Record<string, Message>

function byCreation(a: Message, b: Message): number {
  return a.created_at < b.created_at ? -1 : a.created_at > b.created_at ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0
}

export function childrenOf(messages: MessageMap, parentId: string | null): Message[] {
  return Object.values(messages)
    .filter((m) => m.parent_id === parentId)
    .sort(byCreation)
}

/** Root → leaf. A leaf that is unknown gives an empty path. */
export function pathTo(messages: MessageMap, leafId: string | null): Message[] {
  const path: Message[] = []
  const seen = new Set<string>()
  let cursor = leafId ? messages[leafId] : undefined
  while (cursor && !seen.has(cursor.id)) {
    seen.add(cursor.id)
    path.push(cursor)
    cursor = cursor.parent_id ? messages[cursor.parent_id] : undefined
  }
  return path.reverse()
}

export interface SiblingInfo {
  index: number
  total: number
  ids: string[]
}

export function siblingsOf(messages: MessageMap, id: string): SiblingInfo {
  const message = messages[id]
  if (!message) return { index: 0, total: 0, ids: [] }
  const ids = childrenOf(messages, message.parent_id)
    .filter((m) => m.role === message.role)
    .map((m) => m.id)
  return { index: ids.indexOf(id), total: ids.length, ids }
}

/**
 * The leaf reached from `id`: at each step the child last shown under that parent
 * (`preferred[parentId]`), else the newest child.
 */
export function deepestLeaf(messages: MessageMap, id: string, preferred: Record<string, string> = {}): string {
  let current = id
  for (;;) {
    const children = childrenOf(messages, current)
    if (!children.length) return current
    const remembered = preferred[current]
    current = remembered && children.some((c) => c.id === remembered) ? remembered : children[children.length - 1].id
  }
}

/** The newest leaf of the whole tree (used when the server gives no current leaf). */
export function newestLeaf(messages: MessageMap): string | null {
  const roots = childrenOf(messages, null)
  return roots.length ? deepestLeaf(messages, roots[roots.length - 1].id) : null
}

/** Replace a message's id (a temporary id once the server named it), re-pointing its children. */
export function renameMessage(messages: MessageMap, from: string, to: string): void {
  const message = messages[from]
  if (!message || from === to) return
  delete messages[from]
  messages[to] = { ...message, id: to }
  for (const m of Object.values(messages)) if (m.parent_id === from) m.parent_id = to
}
