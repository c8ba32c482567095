import { mount } from '@vue/test-utils'
import { afterEach, describe, expect, it } from 'vitest'
import { ApiError } from '@/api/client'
import type { PendingFile } from '@/composables/usePendingAttachments'
import { i18n } from '@/locales'
import AttachmentChip from './AttachmentChip.vue'

function chip(file: Partial<PendingFile>) {
  const base: PendingFile = {
    key: 'f1',
    name: 'report.pdf',
    size: 48_213,
    image: false,
    preview: null,
    status: 'uploading',
    progress: 0,
    error: null,
    attachment: null,
  }
  return mount(AttachmentChip, { props: { file: { ...base, ...file } }, global: { plugins: [i18n] } })
}

afterEach(() => {
  i18n.global.locale.value = 'en-US'
})

describe('a file in the message box', () => {
  it("shows its upload's progress", () => {
    const w = chip({ progress: 0.42 })
    const bar = w.get('[role="progressbar"]')
    expect(bar.attributes('aria-valuenow')).toBe('42')
    expect(bar.text()).toBe('Uploading… 42%')
    expect(w.attributes('data-status')).toBe('uploading')
  })

  it("shows an uploaded document's size, tokens and the server's note", () => {
    const w = chip({
      status: 'ready',
      progress: 1,
      size: 48_213,
      attachment: {
        id: 'a1',
        name: 'report.pdf',
        kind: 'document',
        media_type: 'application/pdf',
        size: 48_213,
        width: null,
        height: null,
        tokens: 1234,
        note: 'Truncated at page 12 (the file has 40 pages).',
      },
    })
    expect(w.text()).toContain('report.pdf')
    expect(w.text()).toContain('48.2 kB · 1,234 tokens')
    expect(w.text()).toContain('Truncated at page 12')
  })

  it("shows an image's thumbnail", () => {
    const w = chip({ name: 'shot.png', image: true, preview: 'blob:shot', status: 'ready' })
    expect(w.get('img').attributes('src')).toBe('blob:shot')
    const served = chip({
      name: 'shot.png',
      image: true,
      status: 'ready',
      attachment: {
        id: 'i 1',
        name: 'shot.png',
        kind: 'image',
        media_type: 'image/png',
        size: 1,
        width: 2,
        height: 2,
        tokens: null,
        note: null,
      },
    })
    expect(served.get('img').attributes('src')).toBe('/api/attachments/i%201')
  })

  it("says why a file was refused, in the reader's language", () => {
    i18n.global.locale.value = 'de-DE'
    const w = chip({ status: 'error', error: new ApiError(415, 'attachment_type', 'Not accepted') })
    expect(w.get('[role="alert"]').text()).toBe(
      'Diese Art von Datei kann nicht angehängt werden. Hängen Sie ein Bild, ein PDF, ein DOCX oder eine Textdatei an.',
    )
    expect(w.get('button').attributes('aria-label')).toBe('report.pdf entfernen')
  })

  it('has a remove button named after the file', async () => {
    const w = chip({ status: 'ready' })
    const remove = w.get('button[aria-label="Remove report.pdf"]')
    await remove.trigger('click')
    expect(w.emitted('remove')).toHaveLength(1)
  })
})
