import { createPinia, setActivePinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { Message } from '@/api/types'
import { testMessage } from '@/testing/message'
import { useChatStore } from './chat'
import { useChatDefaultsStore } from './chatDefaults'

function m(id: string, parent: string | null, role: 'user' | 'assistant', at: number): Message {
  return testMessage(id, parent, role, `2026-01-01T00:00:0${at}Z`)
}

let requests: string[] = []

beforeEach(() => {
  setActivePinia(createPinia())
  requests = []
  vi.stubGlobal(
    'fetch',
    vi.fn(async (url: string, init: RequestInit) => {
      requests.push(`${init.method} ${url}`)
      return new Response(JSON.stringify({ deleted: ['q2', 'a2', 'a2b'], current_leaf_id: 'a1' }))
    }),
  )
})

afterEach(() => vi.unstubAllGlobals())

describe('deleting a message in the open conversation', () => {
  it('forgets what the server deleted and shows the branch it chose', async () => {
    const chat = useChatStore()
    chat.conversationId = 'c1'
    chat.messages = Object.fromEntries(
      [
        m('q1', null, 'user', 1),
        m('a1', 'q1', 'assistant', 2),
        m('q2', 'a1', 'user', 3),
        m('a2', 'q2', 'assistant', 4),
        m('a2b', 'q2', 'assistant', 5),
      ].map((x) => [x.id, x]),
    )
    chat.currentLeafId = 'a2b'
    chat.shownChild = { q2: 'a2b', a1: 'q2', q1: 'a1' }
    await chat.deleteMessage('q2')
    expect(requests).toEqual(['DELETE /api/conversations/c1/messages/q2'])
    expect(Object.keys(chat.messages).sort()).toEqual(['a1', 'q1'])
    expect(chat.currentLeafId).toBe('a1')
    expect(chat.thread.map((x) => x.id)).toEqual(['q1', 'a1'])
    expect(chat.shownChild).toEqual({ q1: 'a1' })
  })

  it("a new chat starts from the account's defaults", () => {
    useChatDefaultsStore().settings = {
      model: null,
      system_prompt: 'Be brief.',
      temperature: 0.2,
      top_p: null,
      max_tokens: null,
      context_messages: 6,
      context_tokens: null,
    }
    const chat = useChatStore()
    chat.startNew()
    expect(chat.settings).toMatchObject({ system_prompt: 'Be brief.', temperature: 0.2, context_messages: 6 })
  })
})
