import { mount } from '@vue/test-utils'
import { createPinia, setActivePinia } from 'pinia'
import { beforeEach, describe, expect, it } from 'vitest'
import { nextTick } from 'vue'
import { i18n } from '@/locales'
import { usePrefsStore } from '@/stores/prefs'
import { usePromptsStore } from '@/stores/prompts'
import ChatInput from './ChatInput.vue'

function setup(props: { generating?: boolean } = {}) {
  const pinia = createPinia()
  setActivePinia(pinia)
  const wrapper = mount(ChatInput, {
    props: { generating: props.generating ?? false, modelValue: '', 'onUpdate:modelValue': (v: string) => wrapper.setProps({ modelValue: v }) },
    global: { plugins: [pinia, i18n] },
  })
  return wrapper
}

beforeEach(() => {
  localStorage.clear()
  i18n.global.locale.value = 'en-US'
})

describe('ChatInput', () => {
  it('sends on Enter and keeps Shift+Enter for a new line', async () => {
    const w = setup()
    const area = w.find('textarea')
    await area.setValue('hello')
    await area.trigger('keydown', { key: 'Enter', shiftKey: true })
    expect(w.emitted('send')).toBeUndefined()
    await area.trigger('keydown', { key: 'Enter' })
    expect(w.emitted('send')).toEqual([['hello']])
  })

  it('does not send while an IME is composing', async () => {
    const w = setup()
    await w.find('textarea').setValue('ni')
    await w.find('textarea').trigger('keydown', { key: 'Enter', isComposing: true })
    expect(w.emitted('send')).toBeUndefined()
  })

  it('sends with Ctrl+Enter when so configured', async () => {
    const w = setup()
    usePrefsStore().sendKey = 'ctrl-enter'
    const area = w.find('textarea')
    await area.setValue('hello')
    await area.trigger('keydown', { key: 'Enter' })
    expect(w.emitted('send')).toBeUndefined()
    await area.trigger('keydown', { key: 'Enter', ctrlKey: true })
    expect(w.emitted('send')).toEqual([['hello']])
    expect(w.text()).toContain('Ctrl+Enter to send')
  })

  it('never sends an empty message, and offers Stop while generating', async () => {
    const w = setup({ generating: true })
    await w.find('textarea').setValue('   ')
    await w.find('textarea').trigger('keydown', { key: 'Enter' })
    expect(w.emitted('send')).toBeUndefined()
    await w.find('button[aria-label="Stop generating"]').trigger('click')
    expect(w.emitted('stop')).toHaveLength(1)
  })

  it('offers saved prompts after a slash and inserts the chosen one', async () => {
    const w = setup()
    const at = '2026-01-01T00:00:00Z'
    usePromptsStore().mine = [
      { id: 'p1', key: 'Translate', value: 'Translate to English:', created_at: at, updated_at: at },
      { id: 'p2', key: 'Review', value: 'Review this code:', created_at: at, updated_at: at },
    ]
    const area = w.find('textarea')
    await area.setValue('/')
    await nextTick()
    expect(w.findAll('[role="option"]').map((o) => o.find('.prompt-option-title').text())).toEqual(['Translate', 'Review'])
    await area.setValue('/rev')
    await nextTick()
    expect(w.findAll('[role="option"]')).toHaveLength(1)
    await area.trigger('keydown', { key: 'Enter' })
    expect(w.props('modelValue')).toBe('Review this code:')
    expect(w.emitted('send')).toBeUndefined()
    await nextTick()
    expect(w.find('[role="listbox"]').exists()).toBe(false)
  })
})
