/** Save part of the page as a PNG (html-to-image renders through SVG foreignObject). */
import { toBlob } from 'html-to-image'
import { embeddedFontCss } from './fonts'

/**
 * Left out of the picture: anything marked `data-export-ignore` (message toolbars) and every
 * button (a code block's Copy, an error's Retry) except a not-yet-loaded image's placeholder.
 */
export function keptInPicture(node: Node): boolean {
  if (!(node instanceof HTMLElement)) return true
  if (node.dataset.exportIgnore !== undefined) return false
  return !(node.tagName === 'BUTTON' && !node.classList.contains('md-image'))
}

export async function elementToPng(element: HTMLElement, background: string): Promise<Blob> {
  // The picture is drawn from a copy with no access to the page's stylesheets: the web fonts it
  // uses (KaTeX's) go in as data URLs, once they have loaded.
  await document.fonts?.ready
  const fontEmbedCSS = await embeddedFontCss(element)
  const blob = await toBlob(element, {
    backgroundColor: background,
    pixelRatio: Math.min(window.devicePixelRatio || 1, 2),
    cacheBust: false,
    fontEmbedCSS,
    // The element is centred with auto margins on the page; in the picture it starts at 0.
    width: element.offsetWidth,
    height: element.scrollHeight,
    style: { margin: '0', transform: 'none' },
    filter: keptInPicture,
  })
  if (!blob || blob.size === 0) throw new Error('empty image')
  return blob
}

export function downloadBlob(blob: Blob, filename: string): void {
  const url = URL.createObjectURL(blob)
  const a = document.createElement('a')
  a.href = url
  a.download = filename
  document.body.appendChild(a)
  a.click()
  a.remove()
  setTimeout(() => URL.revokeObjectURL(url), 10_000)
}

/**
 * A file name from a conversation's title: no characters a file system refuses, no leading dots,
 * at most 80 characters; `fallback` when nothing is left.
 */
export function safeFilename(title: string, extension = 'png', fallback = 'chatgate'): string {
  const base = title
    // eslint-disable-next-line no-control-regex -- control characters are exactly what a file name must not hold
    .replace(/[\\/:*?"<>|\u0000-\u001f\u007f]+/g, ' ')
    .replace(/\s+/g, ' ')
    .trim()
    .replace(/^\.+/, '')
    .slice(0, 80)
    .trim()
  return `${base || fallback}.${extension}`
}
