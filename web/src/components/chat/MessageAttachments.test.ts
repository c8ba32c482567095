import { mount } from '@vue/test-utils'
import { describe, expect, it } from 'vitest'
import { sharedAttachmentUrl } from '@/api/attachments'
import type { Attachment } from '@/api/types'
import { i18n } from '@/locales'
import MessageAttachments from './MessageAttachments.vue'

const image: Attachment = {
  id: 'i1',
  name: 'shot.png',
  kind: 'image',
  media_type: 'image/png',
  size: 2000,
  width: 1600,
  height: 800,
  tokens: null,
  note: null,
}
const doc: Attachment = {
  id: 'd1',
  name: 'report.pdf',
  kind: 'document',
  media_type: 'application/pdf',
  size: 48_213,
  width: null,
  height: null,
  tokens: 1234,
  note: 'Truncated at page 12 (the file has 40 pages).',
}

describe("a question's files", () => {
  it('shows images as thumbnails opening full size, and documents as downloads, through the given route', () => {
    const w = mount(MessageAttachments, {
      props: { attachments: [image, doc], urlFor: (id: string) => sharedAttachmentUrl('tok', id) },
      global: { plugins: [i18n] },
    })
    const open = w.get('a.message-image')
    expect(open.attributes('href')).toBe('/api/shared/tok/attachments/i1')
    expect(open.attributes('target')).toBe('_blank')
    expect(open.attributes('aria-label')).toBe('Open shot.png full size')
    const img = open.get('img')
    expect(img.attributes('alt')).toBe('shot.png')
    expect([img.attributes('width'), img.attributes('height')]).toEqual(['160', '80'])
    const download = w.get('a.message-document')
    expect(download.attributes('download')).toBe('report.pdf')
    expect(download.attributes('aria-label')).toBe('Download report.pdf')
    expect(download.text()).toContain('48.2 kB · 1,234 tokens')
    expect(w.text()).toContain('Truncated at page 12')
  })
})
