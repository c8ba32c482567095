import { createPinia, setActivePinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { PromptImportError } from '@/lib/promptStore'
import { usePrefsStore } from './prefs'
import { usePromptsStore } from './prompts'

interface Call {
  method: string
  url: string
  body: unknown
}
let calls: Call[] = []
let reply: (call: Call) => Response

function serverPrompt(key: string, value: string, id = key) {
  return { id, key, value, created_at: '2026-01-01T00:00:00Z', updated_at: '2026-01-01T00:00:00Z' }
}

beforeEach(() => {
  localStorage.clear()
  setActivePinia(createPinia())
  calls = []
  reply = () => new Response('[]', { status: 200 })
  vi.stubGlobal(
    'fetch',
    vi.fn(async (url: string, init: RequestInit) => {
      const call = { method: init.method ?? 'GET', url, body: init.body ? JSON.parse(String(init.body)) : undefined }
      calls.push(call)
      return reply(call)
    }),
  )
})

afterEach(() => vi.unstubAllGlobals())

describe('prompt library store (on the server)', () => {
  it('moves a library this browser kept up to the account, once', async () => {
    const local = [
      { key: 'a', value: '1' },
      { key: 'b', value: '2' },
      { key: '', value: 'no title' },
    ]
    localStorage.setItem('chatgate.prompts', JSON.stringify(local))
    reply = (call) =>
      new Response(
        JSON.stringify({
          added: 2,
          updated: 0,
          prompts: (call.body as { key: string; value: string }[]).map((p) => serverPrompt(p.key, p.value)),
        }),
      )
    const store = usePromptsStore()
    expect(await store.migrateLocal()).toBe(2)
    expect(calls).toEqual([
      {
        method: 'POST',
        url: '/api/prompts/import',
        body: [
          { key: 'a', value: '1' },
          { key: 'b', value: '2' },
        ],
      },
    ])
    expect(store.mine.map((p) => p.key)).toEqual(['a', 'b'])
    expect(localStorage.getItem('chatgate.prompts')).toBeNull()
    expect(await usePromptsStore().migrateLocal()).toBe(0)
    expect(calls).toHaveLength(1)
  })

  it('keeps the local library when moving it fails, to try again next time', async () => {
    localStorage.setItem('chatgate.prompts', JSON.stringify([{ key: 'a', value: '1' }]))
    reply = () => new Response('{"error":{"code":"storage_unavailable","message":"busy"}}', { status: 503 })
    await expect(usePromptsStore().migrateLocal()).rejects.toMatchObject({ code: 'storage_unavailable' })
    expect(localStorage.getItem('chatgate.prompts')).not.toBeNull()
  })

  it('refuses an unreadable file before sending anything', async () => {
    await expect(usePromptsStore().importJson('{oops')).rejects.toBeInstanceOf(PromptImportError)
    expect(calls).toEqual([])
  })

  it('suggests my prompts first, then the shared ones I have no prompt of that title for', () => {
    const store = usePromptsStore()
    store.mine = [serverPrompt('Translate', 'my own translator'), serverPrompt('Mine', 'x')]
    store.shared = [
      { id: 's1', key: 'Translate', value: 'shared translator', locale: 'en-US' },
      { id: 's2', key: 'Summarise', value: 'shared summary', locale: 'en-US' },
    ]
    expect(store.prompts).toEqual([
      { key: 'Translate', value: 'my own translator' },
      { key: 'Mine', value: 'x' },
      { key: 'Summarise', value: 'shared summary' },
    ])
  })

  it('asks for the shared collection in the UI language', async () => {
    await usePromptsStore().loadShared('zh-CN')
    expect(calls).toEqual([{ method: 'GET', url: '/api/prompts/shared?locale=zh-CN', body: undefined }])
  })
})

describe('preferences store', () => {
  it('starts from defaults and drops unknown or mistyped stored values', () => {
    localStorage.setItem('chatgate.prefs', JSON.stringify({ theme: 'purple', locale: 'zh-CN', sendKey: 5, extra: 1 }))
    const prefs = usePrefsStore()
    expect(prefs.$state).toEqual({ theme: 'auto', locale: 'zh-CN', sendKey: 'enter', sidebarCollapsed: false })
  })
})
