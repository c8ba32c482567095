import { mount } from '@vue/test-utils'
import { NDialogProvider, NMessageProvider } from 'naive-ui'
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
    id: 'a1',
    parent_id: 'u1',
    role: 'assistant',
    content: 'Partial answer',
    reasoning: '',
    status: 'complete',
    model: null,
    error: null,
    prompt_tokens: null,
    completion_tokens: null,
    created_at: '2026-01-01T00:00:01Z',
    updated_at: '',
    ...patch,
  }
}

function render(m: Message, live: LiveGeneration | null = null) {
  const pinia = createPinia()
  setActivePinia(pinia)
  const chat = useChatStore()
  chat.messages = { u1: message({ id: 'u1', parent_id: null, role: 'user', content: 'Q' }), [m.id]: m }
  chat.currentLeafId = m.id
  const Wrapper = defineComponent({
    render: () =>
      h(NDialogProvider, null, {
        default: () =>
          h(NMessageProvider, null, { default: () => h(MessageItem, { message: chat.messages[m.id], live }) }),
      }),
  })
  const wrapper = mount(Wrapper, { global: { plugins: [pinia, i18n] }, attachTo: document.body })
  return Object.assign(wrapper, { chat })
}

const streamingLive: LiveGeneration = { kind: 'send', phase: 'streaming', queuePosition: null, stopRequested: false }

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

  it("shows a failed answer's error, translated by code, with a retry", () => {
    const w = render(message({ status: 'error', error: { code: 'upstream_timeout', message: 'raw server text' } }))
    const alert = w.find('[role="alert"]')
    expect(alert.text()).toContain('The model provider did not answer in time.')
    expect(alert.text()).not.toContain('raw server text')
    expect(alert.find('button').text()).toBe('Retry')
  })

  it('shows the place in line while queued, and no actions while streaming', () => {
    const w = render(message({ status: 'queued', content: '' }), {
      kind: 'send',
      phase: 'queued',
      queuePosition: 3,
      stopRequested: false,
    })
    expect(w.find('[role="status"]').text()).toBe('Waiting in line — position 3')
    expect(w.find('.message-toolbar').exists()).toBe(false)
  })

  it('translates the whole message chrome', () => {
    i18n.global.locale.value = 'zh-CN'
    const w = render(message({ status: 'stopped' }))
    expect(w.text()).toContain('已停止')
    expect(w.find('button[aria-label="重新生成"]').exists()).toBe(true)
  })

  describe('the Thinking block', () => {
    const toggle = (w: ReturnType<typeof render>) => w.get('.thinking-toggle')

    it('is open and streams while only reasoning has arrived, then folds to one line when the answer starts', async () => {
      const w = render(
        message({ status: 'streaming', content: '', reasoning: 'Weighing **both** options' }),
        streamingLive,
      )
      w.chat.thinking.a1 = { first: 1_000, last: 1_000 }
      await nextTick()
      expect(toggle(w).attributes('aria-expanded')).toBe('true')
      expect(toggle(w).text()).toBe('Thinking…')
      expect(w.get('.thinking').classes()).toContain('is-live')
      expect(w.get('.thinking-body').text()).toBe('Weighing both options')
      expect(w.get('.thinking-body strong').text()).toBe('both')
      expect(w.get('.thinking [role="status"]').text()).toBe('Thinking…')
      expect(w.text()).not.toContain('Waiting for the model')
      expect(w.find('.message-answer').exists()).toBe(false)

      w.chat.messages.a1.reasoning += ' and pick one.'
      w.chat.thinking.a1.last = 13_400
      w.chat.messages.a1.content = 'Pick the second.'
      await nextTick()
      expect(toggle(w).attributes('aria-expanded')).toBe('false')
      expect(toggle(w).attributes('aria-controls')).toBeUndefined()
      expect(toggle(w).text()).toBe('Thought for 12 s')
      expect(w.find('.thinking-body').exists()).toBe(false)
      expect(w.get('.message-answer').text()).toBe('Pick the second.')

      await toggle(w).trigger('click')
      expect(toggle(w).attributes('aria-expanded')).toBe('true')
      expect(toggle(w).attributes('aria-controls')).toBe(w.get('.thinking-body').attributes('id'))
      expect(w.get('.thinking-body').text()).toBe('Weighing both options and pick one.')
      await toggle(w).trigger('click')
      expect(w.find('.thinking-body').exists()).toBe(false)
    })

    it('shows a stored answer\'s reasoning folded as "Thoughts", sanitised when opened, and leaves it out of images', async () => {
      const w = render(
        message({ content: 'Done.', reasoning: 'Plan <img src=x onerror="alert(1)"> then [go](javascript:alert(1))' }),
      )
      expect(toggle(w).text()).toBe('Thoughts')
      expect(toggle(w).attributes('aria-expanded')).toBe('false')
      expect(w.find('.thinking [role="status"]').exists()).toBe(false)
      expect(w.get('.thinking').attributes('data-export-ignore')).toBeDefined()
      await toggle(w).trigger('click')
      const body = w.get('.thinking-body')
      expect(body.find('img').exists()).toBe(false)
      expect(body.text()).toContain('<img src=x onerror="alert(1)">') // shown as text, never as markup
      expect(body.findAll('[onerror]')).toHaveLength(0)
      expect(body.find('a[href^="javascript"]').exists()).toBe(false)
      expect(w.get('.message-answer').text()).toBe('Done.')
    })

    it("counts minutes for long thinking, and speaks the reader's language", async () => {
      i18n.global.locale.value = 'zh-CN'
      const w = render(message({ status: 'streaming', content: 'Answer', reasoning: '想一想' }), streamingLive)
      w.chat.thinking.a1 = { first: 0, last: 125_000 }
      await nextTick()
      expect(toggle(w).text()).toBe('已思考 2 分 5 秒')
      w.chat.messages.a1.content = ''
      await nextTick()
      expect(toggle(w).text()).toBe('思考中…')
    })

    it('is not there when the model gave no reasoning', () => {
      const w = render(message({ content: 'Plain answer' }))
      expect(w.find('.thinking').exists()).toBe(false)
    })
  })

  describe('deleting', () => {
    function mountWithDialogs(id: string) {
      const chat = useChatStore()
      const Wrapper = defineComponent({
        render: () =>
          h(NDialogProvider, null, {
            default: () => h(NMessageProvider, null, { default: () => h(MessageItem, { message: chat.messages[id] }) }),
          }),
      })
      return mount(Wrapper, { global: { plugins: [i18n] }, attachTo: document.body })
    }

    function dialogText(): string {
      return [...document.body.querySelectorAll('[role="dialog"]')].map((d) => d.textContent ?? '').join(' ')
    }

    it("asks first, saying a question goes with its answers, in the reader's language", async () => {
      const w = render(message({ id: 'a1', parent_id: 'u1' }))
      w.chat.messages.a2 = message({ id: 'a2', parent_id: 'u1', created_at: '2026-01-01T00:00:02Z' })
      w.chat.conversationId = 'c1'
      const question = mountWithDialogs('u1')
      await question.get('button[aria-label="Delete message"]').trigger('click')
      await nextTick()
      expect(dialogText()).toContain('This question and its 2 answers will be deleted.')
      expect(dialogText()).toContain('This cannot be undone.')
      question.unmount()

      i18n.global.locale.value = 'zh-CN'
      const answer = mountWithDialogs('a2')
      await answer.get('button[aria-label="删除消息"]').trigger('click')
      await nextTick()
      expect(dialogText()).toContain('将删除这个回答。')
      answer.unmount()
      w.unmount()
    })

    it('offers no delete while an answer is being written', () => {
      const w = render(message({ status: 'streaming', content: '' }), streamingLive)
      expect(w.find('button[aria-label="Delete message"]').exists()).toBe(false)
    })
  })
})
