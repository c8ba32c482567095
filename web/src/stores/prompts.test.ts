import { createPinia, setActivePinia } from 'pinia'
import { beforeEach, describe, expect, it } from 'vitest'
import { usePrefsStore } from './prefs'
import { usePromptsStore } from './prompts'

beforeEach(() => {
  localStorage.clear()
  setActivePinia(createPinia())
})

describe('prompt library store', () => {
  it('imports prompt-store JSON and persists it', () => {
    const store = usePromptsStore()
    const result = store.importJson('[{"key":"a","value":"1"},{"key":"b","value":"2"}]')
    expect(result).toMatchObject({ added: 2, updated: 0 })
    setActivePinia(createPinia())
    expect(usePromptsStore().prompts.map((p) => p.key)).toEqual(['a', 'b'])
  })

  it('edits in place and renames', () => {
    const store = usePromptsStore()
    store.importJson('[{"key":"a","value":"1"},{"key":"b","value":"2"}]')
    store.upsert({ key: 'a2', value: 'x' }, 'a')
    expect(store.prompts).toEqual([{ key: 'a2', value: 'x' }, { key: 'b', value: '2' }])
    store.remove('b')
    expect(store.prompts).toEqual([{ key: 'a2', value: 'x' }])
  })

  it('ignores a corrupt stored library', () => {
    localStorage.setItem('chatgate.prompts', '{not json')
    expect(usePromptsStore().prompts).toEqual([])
  })
})

describe('preferences store', () => {
  it('starts from defaults and drops unknown or mistyped stored values', () => {
    localStorage.setItem('chatgate.prefs', JSON.stringify({ theme: 'purple', locale: 'zh-CN', sendKey: 5, extra: 1 }))
    const prefs = usePrefsStore()
    expect(prefs.$state).toEqual({ theme: 'auto', locale: 'zh-CN', sendKey: 'enter', sidebarCollapsed: false })
  })
})
