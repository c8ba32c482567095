import { mount } from '@vue/test-utils'
import { NMessageProvider } from 'naive-ui'
import { createPinia, setActivePinia } from 'pinia'
import { beforeEach, describe, expect, it } from 'vitest'
import { defineComponent, h, nextTick } from 'vue'
import type { Message } from '@/api/types'
import { i18n } from '@/locales'
import type { LiveGeneration } from '@/stores/chat'
import { useChatStore } from '@/stores/chat'
import MessageItem from './MessageItem.vue'

function message(patch: Partial<Message>): Message {
  return {
    id: 'a1', parent_id: 'u1', role: 'assistant', content: 'Partial answer', status: 'complete', model: null, error: null,
    prompt_tokens: null, completion_tokens: null, created_at: '2026-01-01T00:00:01Z', updated_at: '', ...patch,
  }
}

function render(m: Message, live: LiveGeneration | null = null) {
  const pinia = createPinia()
  setActivePinia(pinia)
  const chat = useChatStore()
  chat.messages = { u1: message({ id: 'u1', parent_id: null, role: 'user', content: 'Q' }), [m.id]: m }
  chat.currentLeafId = m.id
  const Wrapper = defineComponent({ render: () => h(NMessageProvider, null, { default: () => h(MessageItem, { message: m, live }) }) })
  return mount(Wrapper, { global: { plugins: [pinia, i18n] }, attachTo: document.body })
}

beforeEach(() => {
  i18n.global.locale.value = 'en-US'
  document.body.innerHTML = ''
})

describe('MessageItem', () => {
  it('marks an interrupted answer and offers to continue it', async () => {
    const w = render(message({ status: 'interrupted' }))
    await nextTick()
    expect(w.text()).toContain('This answer was interrupted before it finished.')
    expect(w.find('[role="note"]').exists()).toBe(true)
    expect(w.find('button[aria-label="Continue"]').exists()).toBe(true)
    expect(w.find('.markdown-body').text()).toBe('Partial answer')
  })

  it('shows a failed answer\'s error, translated by code, with a retry', () => {
    const w = render(message({ status: 'error', error: { code: 'upstream_timeout', message: 'raw server text' } }))
    const alert = w.find('[role="alert"]')
    expect(alert.text()).toContain('The model provider did not answer in time.')
    expect(alert.text()).not.toContain('raw server text')
    expect(alert.find('button').text()).toBe('Retry')
  })

  it('shows the place in line while queued, and no actions while streaming', () => {
    const w = render(message({ status: 'queued', content: '' }), { kind: 'send', phase: 'queued', queuePosition: 3, stopRequested: false })
    expect(w.find('[role="status"]').text()).toBe('Waiting in line — position 3')
    expect(w.find('.message-toolbar').exists()).toBe(false)
  })

  it('translates the whole message chrome', () => {
    i18n.global.locale.value = 'zh-CN'
    const w = render(message({ status: 'stopped' }))
    expect(w.text()).toContain('已停止')
    expect(w.find('button[aria-label="重新生成"]').exists()).toBe(true)
  })
})
