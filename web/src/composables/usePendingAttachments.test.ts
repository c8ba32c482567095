import { describe, expect, it, vi } from 'vitest'
import { nextTick } from 'vue'
import { ApiError, type UploadProgress } from '@/api/client'
import type { Attachment } from '@/api/types'
import { usePendingAttachments } from './usePendingAttachments'

function uploaded(id: string, name: string, kind: Attachment['kind'] = 'document'): Attachment {
  return {
    id,
    name,
    kind,
    media_type: kind === 'image' ? 'image/png' : 'application/pdf',
    size: 10,
    width: null,
    height: null,
    tokens: kind === 'image' ? null : 12,
    note: null,
  }
}

/** Uploads that finish when the test says so. */
function controlledUploads() {
  const pending: {
    name: string
    progress?: (p: UploadProgress) => void
    resolve: (a: Attachment) => void
    reject: (e: unknown) => void
  }[] = []
  const upload = vi.fn(
    (_file: Blob, name: string, progress?: (p: UploadProgress) => void) =>
      new Promise<Attachment>((resolve, reject) => {
        pending.push({ name, progress, resolve, reject })
      }),
  )
  const remove = vi.fn(async (_id: string) => undefined)
  return { pending, upload, remove }
}

const flush = async () => {
  await Promise.resolve()
  await Promise.resolve()
  await nextTick()
}
const file = (name: string, type = 'application/pdf') => new File([new Uint8Array(10)], name, { type })

describe('files in the message box', () => {
  it("uploads each file at once: progress, then the server's answer", async () => {
    const { pending, upload, remove } = controlledUploads()
    const box = usePendingAttachments({ upload, remove, createPreview: () => 'blob:preview', releasePreview: vi.fn() })
    expect(box.add([file('a.pdf'), file('shot.png', 'image/png')])).toBe(0)
    expect(box.items.map((f) => [f.name, f.status, f.image, f.preview])).toEqual([
      ['a.pdf', 'uploading', false, null],
      ['shot.png', 'uploading', true, 'blob:preview'],
    ])
    expect(box.uploading).toBe(true)
    expect(box.hasImage).toBe(true)
    pending[0].progress?.({ loaded: 5, total: 10 })
    expect(box.items[0].progress).toBe(0.5)
    pending[0].resolve(uploaded('a1', 'a.pdf'))
    pending[1].resolve(uploaded('i1', 'shot.png', 'image'))
    await flush()
    expect(box.items.map((f) => f.status)).toEqual(['ready', 'ready'])
    expect(box.uploading).toBe(false)
    expect(box.ready.map((a) => a.id)).toEqual(['a1', 'i1'])
  })

  it('keeps a refusal on its chip; a refused file does not count or go', async () => {
    const { pending, upload, remove } = controlledUploads()
    const box = usePendingAttachments({ upload, remove, max: () => 2 })
    box.add([file('page.png', 'image/png')])
    pending[0].reject(new ApiError(415, 'attachment_type', 'no'))
    await flush()
    expect(box.items[0].status).toBe('error')
    expect(box.items[0].error?.code).toBe('attachment_type')
    expect(box.hasImage).toBe(false)
    expect(box.add([file('b.pdf'), file('c.pdf'), file('d.pdf')])).toBe(1) // two fit beside the refused one
    expect(box.take()).toEqual([]) // nothing ready yet; the refused file is dropped
    expect(box.items.map((f) => f.name)).toEqual(['b.pdf', 'c.pdf'])
  })

  it('removing a file deletes the unsent upload, even one still on its way', async () => {
    const { pending, upload, remove } = controlledUploads()
    const release = vi.fn()
    const box = usePendingAttachments({ upload, remove, createPreview: () => 'blob:x', releasePreview: release })
    box.add([file('a.pdf'), file('b.png', 'image/png')])
    pending[0].resolve(uploaded('a1', 'a.pdf'))
    await flush()
    box.remove(box.items[0].key)
    expect(remove).toHaveBeenCalledWith('a1')
    box.remove(box.items[0].key) // still uploading
    expect(release).toHaveBeenCalledWith('blob:x')
    expect(box.items).toEqual([])
    pending[1].resolve(uploaded('b1', 'b.png', 'image'))
    await flush()
    expect(remove).toHaveBeenCalledWith('b1')
  })

  it('sending takes the uploaded files; a refused send gives them back', async () => {
    const { pending, upload, remove } = controlledUploads()
    const box = usePendingAttachments({ upload, remove })
    box.add([file('a.pdf')])
    pending[0].resolve(uploaded('a1', 'a.pdf'))
    await flush()
    const taken = box.take()
    expect(taken.map((f) => f.attachment?.id)).toEqual(['a1'])
    expect(box.items).toEqual([])
    box.restore(taken)
    expect(box.ready.map((a) => a.id)).toEqual(['a1'])
    expect(remove).not.toHaveBeenCalled()
  })
})
