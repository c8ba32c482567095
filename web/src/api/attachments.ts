/**
 * Files attached to questions: uploaded one by one as soon as they are chosen
 * (`POST /api/attachments`, multipart field `file`), removed while unsent, and read back for
 * their owner or for a share link's viewers.
 */
import { ApiError, errorFromBody, noticeSessionEnd, requestJson, type UploadProgress } from './client'
import type { Attachment } from './types'

const enc = encodeURIComponent

/** The owner's copy of a file (images inline, anything else as a download). */
export function attachmentUrl(id: string): string {
  return `/api/attachments/${enc(id)}`
}

/** A file shown by a live share link. */
export function sharedAttachmentUrl(token: string, id: string): string {
  return `/api/shared/${enc(token)}/attachments/${enc(id)}`
}

/**
 * Upload one file, reporting progress. XMLHttpRequest, because fetch cannot report upload
 * progress. A body cut off by the server's body limit (`body_too_large`) is the same refusal to
 * the reader as a file over the limit: both become `attachment_too_large`.
 */
export function uploadAttachment(
  file: Blob,
  name: string,
  onProgress?: (p: UploadProgress) => void,
  signal?: AbortSignal,
): Promise<Attachment> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest()
    xhr.open('POST', '/api/attachments')
    xhr.withCredentials = true
    xhr.setRequestHeader('Accept', 'application/json')
    if (onProgress)
      xhr.upload.onprogress = (e) => onProgress({ loaded: e.loaded, total: e.lengthComputable ? e.total : file.size })
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        try {
          resolve(JSON.parse(xhr.responseText) as Attachment)
        } catch (err) {
          reject(new ApiError(xhr.status, 'internal_error', String(err)))
        }
        return
      }
      let error = errorFromBody(xhr.status, xhr.statusText, xhr.responseText, xhr.getResponseHeader('Retry-After'))
      if (error.code === 'body_too_large') error = new ApiError(413, 'attachment_too_large', error.message)
      noticeSessionEnd(error)
      reject(error)
    }
    xhr.onerror = () => reject(new ApiError(0, 'network_error', 'upload failed'))
    xhr.onabort = () => reject(new DOMException('aborted', 'AbortError'))
    signal?.addEventListener('abort', () => xhr.abort(), { once: true })
    const form = new FormData()
    form.append('file', file, name)
    xhr.send(form)
  })
}

/** Only while not yet sent (a sent file goes with its message). */
export function deleteAttachment(id: string): Promise<void> {
  return requestJson<void>('DELETE', attachmentUrl(id))
}

/**
 * The same files again, as new unsent uploads (edit-and-resend keeps a question's files; a sent
 * file belongs to its message, so its bytes are uploaded once more).
 */
export async function uploadAgain(files: Attachment[]): Promise<Attachment[]> {
  const out: Attachment[] = []
  for (const file of files) {
    const res = await fetch(attachmentUrl(file.id), { credentials: 'same-origin' })
    if (!res.ok) throw errorFromBody(res.status, res.statusText, await res.text().catch(() => ''), null)
    out.push(await uploadAttachment(await res.blob(), file.name))
  }
  return out
}
