/** Tests' messages: a finished question or answer whose content is its id. */
import type { Message } from '@/api/types'

export function testMessage(id: string, parent: string | null, role: Message['role'], createdAt: string): Message {
  return {
    id,
    parent_id: parent,
    role,
    content: id,
    reasoning: '',
    status: 'complete',
    model: null,
    error: null,
    prompt_tokens: null,
    completion_tokens: null,
    created_at: createdAt,
    updated_at: '',
  }
}
