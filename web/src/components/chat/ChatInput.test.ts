import { mount } from '@vue/test-utils'
import { createPinia, setActivePinia } from 'pinia'
import { beforeEach, describe, expect, it, vi } from 'vitest'
import { nextTick } from 'vue'
import type { Attachment } from '@/api/types'
import { usePendingAttachments, type PendingAttachments } from '@/composables/usePendingAttachments'
import { i18n } from '@/locales'
import { usePrefsStore } from '@/stores/prefs'
import { usePromptsStore } from '@/stores/prompts'
import ChatInput from './ChatInput.vue'

function setup(props: { generating?: boolean; attachments?: PendingAttachments; cannotSee?: string | null } = {}) {
  const pinia = createPinia()
  setActivePinia(pinia)
  const wrapper = mount(ChatInput, {
    props: {
      generating: props.generating ?? false,
      attachments: props.attachments,
      cannotSee: props.cannotSee ?? null,
      modelValue: '',
      'onUpdate:modelValue': (v: string) => wrapper.setProps({ modelValue: v }),
    },
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
    expect(w.findAll('[role="option"]').map((o) => o.find('.prompt-option-title').text())).toEqual([
      'Translate',
      'Review',
    ])
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

const flush = async () => {
  for (let i = 0; i < 4; i++) await Promise.resolve()
  await nextTick()
}

/** A box whose uploads answer at once with the file's kind. */
function instantBox() {
  const upload = vi.fn(async (file: Blob, name: string): Promise<Attachment> => ({
    id: `id-${name}`,
    name,
    kind: file.type.startsWith('image/') ? 'image' : 'document',
    media_type: file.type,
    size: file.size,
    width: null,
    height: null,
    tokens: null,
    note: null,
  }))
  const remove = vi.fn(async () => undefined)
  return { box: usePendingAttachments({ upload, remove, createPreview: () => null }), upload, remove }
}

function pasteEvent(files: File[], text = ''): Event {
  const event = new Event('paste', { bubbles: true, cancelable: true })
  Object.assign(event, {
    clipboardData: {
      types: [...(text ? ['text/plain'] : []), ...(files.length ? ['Files'] : [])],
      files,
      items: files.map((f) => ({ kind: 'file', type: f.type, getAsFile: () => f })),
      getData: (t: string) => (t === 'text/plain' ? text : ''),
    },
  })
  return event
}

describe('ChatInput with files', () => {
  const shot = () => new File([new Uint8Array([137, 80, 78, 71])], 'image.png', { type: 'image/png' })

  it('offers a paperclip with a name, and attaches a pasted screenshot (not pasted text)', async () => {
    const { box, upload } = instantBox()
    const w = setup({ attachments: box })
    expect(w.find('button[aria-label="Attach files"]').exists()).toBe(true)
    const area = w.find('textarea').element
    const withText = pasteEvent([shot()], 'A1')
    area.dispatchEvent(withText)
    expect(withText.defaultPrevented).toBe(false)
    expect(upload).not.toHaveBeenCalled()
    const screenshot = pasteEvent([shot()])
    area.dispatchEvent(screenshot)
    expect(screenshot.defaultPrevented).toBe(true)
    await flush()
    expect(w.findAll('.composer-files li').map((li) => li.attributes('data-status'))).toEqual(['ready'])
    await w.get('button[aria-label="Remove image.png"]').trigger('click')
    expect(w.find('.composer-files').exists()).toBe(false)
  })

  it('waits for uploads before sending, and a file alone asks for a question', async () => {
    let finish: (a: Attachment) => void = () => undefined
    const upload = vi.fn(
      () =>
        new Promise<Attachment>((resolve) => {
          finish = resolve
        }),
    )
    const box = usePendingAttachments({ upload, remove: vi.fn(async () => undefined), createPreview: () => null })
    const w = setup({ attachments: box })
    box.add([new File(['x'], 'notes.md', { type: 'text/markdown' })])
    await w.find('textarea').setValue('Summarise')
    expect(w.get('button[aria-label="Send message"]').attributes('disabled')).toBeDefined()
    expect(w.text()).toContain('Wait until the files are uploaded.')
    finish({
      id: 'a',
      name: 'notes.md',
      kind: 'document',
      media_type: 'text/markdown',
      size: 1,
      width: null,
      height: null,
      tokens: 1,
      note: null,
    })
    await flush()
    await w.find('textarea').setValue('')
    expect(w.text()).toContain('Write a question to send with the files.')
    await w.find('textarea').setValue('Summarise')
    await w.find('textarea').trigger('keydown', { key: 'Enter' })
    expect(w.emitted('send')).toEqual([['Summarise']])
  })

  it("refuses an image for a model that cannot see, before sending, in the reader's language", async () => {
    const { box } = instantBox()
    const w = setup({ attachments: box, cannotSee: 'fake-model' })
    box.add([shot()])
    await flush()
    await w.find('textarea').setValue('What is this?')
    await w.find('textarea').trigger('keydown', { key: 'Enter' })
    expect(w.emitted('send')).toBeUndefined()
    expect(w.get('[role="alert"]').text()).toBe(
      'fake-model cannot see images. Choose a model that accepts images in the chat settings, or remove the images.',
    )
    i18n.global.locale.value = 'ja-JP'
    await w.find('textarea').trigger('keydown', { key: 'Enter' })
    expect(w.get('[role="alert"]').text()).toContain('fake-model は画像を認識できません')
    // A model that sees: it goes.
    await w.setProps({ cannotSee: null })
    await w.find('textarea').trigger('keydown', { key: 'Enter' })
    expect(w.emitted('send')).toEqual([['What is this?']])
  })

  it('says when a message would carry too many files', async () => {
    const upload = vi.fn(async (_f: Blob, n: string): Promise<Attachment> => ({
      id: n,
      name: n,
      kind: 'document',
      media_type: 'text/plain',
      size: 1,
      width: null,
      height: null,
      tokens: 1,
      note: null,
    }))
    const w = setup({
      attachments: usePendingAttachments({ upload, remove: vi.fn(async () => undefined), max: () => 2 }),
    })
    const files = ['a', 'b', 'c'].map((n) => new File([n], `${n}.txt`, { type: 'text/plain' }))
    ;(w.vm as unknown as { attach: (f: File[]) => void }).attach(files)
    await flush()
    expect(w.findAll('.composer-files li')).toHaveLength(2)
    expect(w.get('.composer-notice').text()).toBe('At most 2 files per message.')
  })
})
