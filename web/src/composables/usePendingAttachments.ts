/**
 * The files in the message box before sending: each uploads as soon as it is added, with its
 * progress, the server's answer (or its refusal, kept on the file's chip) and a preview of
 * images made from the local file. Removing a file deletes the unsent upload. Sending takes the
 * uploaded files out of the box (`take`); a refused send puts them back (`restore`).
 */
import { computed, reactive } from 'vue'
import { deleteAttachment, uploadAttachment } from '@/api/attachments'
import { ApiError } from '@/api/client'
import type { Attachment } from '@/api/types'
import { MAX_FILES_PER_MESSAGE, nameFor } from '@/lib/attachments'

export type PendingStatus = 'uploading' | 'ready' | 'error'

export interface PendingFile {
  key: string
  name: string
  /** The local file's size until the server says what it stored. */
  size: number
  /** An image, by the browser's guess until the server's answer. */
  image: boolean
  /** A local preview of an image (an object URL), shown while it uploads and after. */
  preview: string | null
  status: PendingStatus
  /** 0…1 of the bytes sent. */
  progress: number
  error: ApiError | null
  attachment: Attachment | null
}

export interface PendingOptions {
  max?: () => number
  upload?: typeof uploadAttachment
  remove?: (id: string) => Promise<void>
  createPreview?: (file: File) => string | null
  releasePreview?: (url: string) => void
}

let counter = 0

export function usePendingAttachments(options: PendingOptions = {}) {
  const upload = options.upload ?? uploadAttachment
  const removeUpload = options.remove ?? deleteAttachment
  const max = options.max ?? (() => MAX_FILES_PER_MESSAGE)
  const createPreview =
    options.createPreview ??
    ((file: File) => (typeof URL.createObjectURL === 'function' ? URL.createObjectURL(file) : null))
  const releasePreview =
    options.releasePreview ??
    ((url: string) => {
      if (typeof URL.revokeObjectURL === 'function') URL.revokeObjectURL(url)
    })
  const controllers = new Map<string, AbortController>()

  const state = reactive({
    items: [] as PendingFile[],
    uploading: computed((): boolean => state.items.some((f) => f.status === 'uploading')),
    /** The uploaded files, in the order they were added. */
    ready: computed((): Attachment[] =>
      state.items.flatMap((f) => (f.status === 'ready' && f.attachment ? [f.attachment] : [])),
    ),
    hasImage: computed((): boolean =>
      state.items.some((f) => f.status !== 'error' && (f.attachment ? f.attachment.kind === 'image' : f.image)),
    ),
    /** Files that count against the limit per message (a refused file does not). */
    counted: computed((): number => state.items.filter((f) => f.status !== 'error').length),
    /** Files per message. */
    limit: computed((): number => max()),
    add,
    remove,
    take,
    restore,
    release,
    clear,
  })

  /** Start uploading `files`; returns how many were left out because the message would carry too many. */
  function add(files: File[]): number {
    const room = Math.max(0, max() - state.counted)
    const accepted = files.slice(0, room)
    for (const file of accepted) start(file)
    return files.length - accepted.length
  }

  function start(file: File): void {
    const key = `f${++counter}`
    const image = file.type.startsWith('image/')
    state.items.push({
      key,
      name: nameFor(file),
      size: file.size,
      image,
      preview: image ? createPreview(file) : null,
      status: 'uploading',
      progress: 0,
      error: null,
      attachment: null,
    })
    const controller = new AbortController()
    controllers.set(key, controller)
    const item = () => state.items.find((f) => f.key === key)
    upload(
      file,
      nameFor(file),
      (p) => {
        const it = item()
        if (it && p.total > 0) it.progress = Math.min(1, p.loaded / p.total)
      },
      controller.signal,
    )
      .then(
        (attachment) => {
          const it = item()
          if (!it) {
            // Removed while it uploaded: the upload is not wanted.
            void removeUpload(attachment.id).catch(() => undefined)
            return
          }
          it.attachment = attachment
          it.name = attachment.name
          it.size = attachment.size
          it.image = attachment.kind === 'image'
          it.progress = 1
          it.status = 'ready'
        },
        (err: unknown) => {
          const it = item()
          if (!it) return
          it.status = 'error'
          it.error = err instanceof ApiError ? err : new ApiError(0, 'network_error', String(err))
        },
      )
      .finally(() => controllers.delete(key))
  }

  /** Take a file out of the box: stop its upload, delete it on the server while unsent. */
  function remove(key: string): void {
    const index = state.items.findIndex((f) => f.key === key)
    if (index < 0) return
    const [it] = state.items.splice(index, 1)
    controllers.get(key)?.abort()
    controllers.delete(key)
    if (it.attachment) void removeUpload(it.attachment.id).catch(() => undefined)
    if (it.preview) releasePreview(it.preview)
  }

  /** The uploaded files, out of the box for sending (refused ones go too: they cannot be sent). */
  function take(): PendingFile[] {
    const taken = state.items.filter((f) => f.status === 'ready')
    for (const f of state.items) if (f.status === 'error' && f.preview) releasePreview(f.preview)
    state.items = state.items.filter((f) => f.status === 'uploading')
    return taken
  }

  /** Put taken files back (the send was refused), before anything added meanwhile. */
  function restore(files: PendingFile[]): void {
    state.items = [...files, ...state.items]
  }

  /** Forget taken files once sent (their previews are no longer needed). */
  function release(files: PendingFile[]): void {
    for (const f of files) if (f.preview) releasePreview(f.preview)
  }

  /** Empty the box, deleting what was uploaded (leaving a conversation, signing out). */
  function clear(): void {
    for (const f of [...state.items]) remove(f.key)
  }

  return state
}

export type PendingAttachments = ReturnType<typeof usePendingAttachments>
