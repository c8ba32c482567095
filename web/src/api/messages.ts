/** Deleting one message of a conversation, with the part of the tree below it. */
import { requestJson } from './client'

export interface MessageDeletion {
  /** Every deleted message: the one asked for first, then what was below it. */
  deleted: string[]
  /** The conversation's current leaf afterwards (null when nothing is left). */
  current_leaf_id: string | null
}

export function deleteMessage(conversationId: string, messageId: string): Promise<MessageDeletion> {
  const enc = encodeURIComponent
  return requestJson<MessageDeletion>('DELETE', `/api/conversations/${enc(conversationId)}/messages/${enc(messageId)}`)
}
