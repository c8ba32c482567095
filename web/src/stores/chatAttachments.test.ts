import { createPinia, setActivePinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { Attachment, Conversation, Message } from '@/api/types'
import { useChatStore } from './chat'

const uploadAgain = vi.fn(async (files: Attachment[]) => files.map((f) => ({ ...f, id: `${f.id}-again` })))
vi.mock('@/api/attachments', () => ({ uploadAgain: (files: Attachment[]) => uploadAgain(files) }))

const posted: unknown[] = []
let answer: [string, unknown][] = []

function sse(events: [string, unknown][]): Response {
  const text = events.map(([e, d], i) => `id: ${i + 1}\nevent: ${e}\ndata: ${JSON.stringify(d)}\n\n`).join('')
  return new Response(text, { status: 200, headers: { 'Content-Type': 'text/event-stream' } })
}

const conversation: Conversation = {
  id: 'c1',
  title: 'Files',
  created_at: '2026-01-01T00:00:00Z',
  updated_at: '2026-01-01T00:00:00Z',
  current_leaf_id: null,
  settings: {
    model: 'vision-model',
    system_prompt: '',
    temperature: null,
    top_p: null,
    max_tokens: null,
    context_messages: 20,
    context_tokens: null,
  },
}

const pdf: Attachment = {
  id: 'f1',
  name: 'report.pdf',
  kind: 'document',
  media_type: 'application/pdf',
  size: 100,
  width: null,
  height: null,
  tokens: 9,
  note: null,
}

beforeEach(() => {
  setActivePinia(createPinia())
  posted.length = 0
  uploadAgain.mockClear()
  answer = [
    ['start', { conversation_id: 'c1', user_message_id: 'u1', message_id: 'a1', model: 'vision-model' }],
    ['delta', { text: 'ok' }],
    ['done', { status: 'complete' }],
  ]
  vi.stubGlobal(
    'fetch',
    vi.fn(async (_input: string, init: RequestInit = {}) => {
      if ((init.method ?? 'GET') === 'POST') {
        posted.push(JSON.parse(String(init.body)))
        return sse(answer)
      }
      return new Response(JSON.stringify(conversation), {
        status: 200,
        headers: { 'Content-Type': 'application/json' },
      })
    }),
  )
})

afterEach(() => vi.unstubAllGlobals())

describe('chat store with files and tool calls', () => {
  it("sends the files' ids with the question and shows them on it at once", async () => {
    const chat = useChatStore()
    chat.adopt({ ...conversation })
    await chat.send('What is in it?', undefined, [pdf])
    expect(posted).toEqual([{ content: 'What is in it?', parent_id: null, model: 'vision-model', attachments: ['f1'] }])
    expect(chat.thread[0].attachments).toEqual([pdf])
  })

  it('edit-and-resend keeps the files, uploaded again (a sent file belongs to its message)', async () => {
    const chat = useChatStore()
    chat.adopt({ ...conversation })
    const question: Message = {
      id: 'q1',
      parent_id: null,
      role: 'user',
      content: 'Old',
      reasoning: '',
      status: 'complete',
      model: null,
      error: null,
      prompt_tokens: null,
      completion_tokens: null,
      created_at: '',
      updated_at: '',
      attachments: [pdf],
    }
    chat.messages = { q1: question }
    chat.currentLeafId = 'q1'
    await chat.editAndResend('q1', 'New')
    expect(uploadAgain).toHaveBeenCalledWith([pdf])
    expect(posted).toEqual([{ content: 'New', parent_id: null, model: 'vision-model', attachments: ['f1-again'] }])
  })

  it("builds an answer's tool calls from the live tool_call events", async () => {
    answer = [
      ['start', { conversation_id: 'c1', user_message_id: 'u1', message_id: 'a1', model: 'vision-model' }],
      ['tool_call', { index: 0, id: 'call_1', name: 'get_weather', arguments: '{"city":' }],
      ['tool_call', { index: 0, id: null, name: null, arguments: '"Paris"}' }],
      ['done', { status: 'complete' }],
    ]
    const chat = useChatStore()
    chat.adopt({ ...conversation })
    await chat.send('Weather?')
    const parts = chat.thread[1].parts ?? []
    expect(parts.map((p) => [p.type, p.id, p.name, p.arguments])).toEqual([
      ['tool_call', 'call_1', 'get_weather', '{"city":"Paris"}'],
    ])
  })
})
