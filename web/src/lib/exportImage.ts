/** Save part of the page as a PNG (html-to-image renders through SVG foreignObject). */
import { toBlob } from 'html-to-image'

/** Elements marked `data-export-ignore` (buttons, toolbars) are left out of the picture. */
export async function elementToPng(element: HTMLElement, background: string): Promise<Blob> {
  const blob = await toBlob(element, {
    backgroundColor: background,
    pixelRatio: Math.min(window.devicePixelRatio || 1, 2),
    cacheBust: false,
    // Fonts are already on the page; re-embedding them would refetch every KaTeX font.
    skipFonts: true,
    // The element is centred with auto margins on the page; in the picture it starts at 0.
    width: element.offsetWidth,
    height: element.scrollHeight,
    style: { margin: '0', transform: 'none' },
    filter: (node) => !(node instanceof HTMLElement && node.dataset.exportIgnore !== undefined),
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

export function safeFilename(title: string): string {
  const base = title.replace(/[\\/:*?"<>|\u0000-\u001f]+/g, ' ').trim().slice(0, 80)
  return `${base || 'chatgate'}.png`
}
