/**
 * The markdown pipeline: markdown-it (no raw HTML) → DOMPurify, block by block.
 * `render(md, {streaming})` is pure: same input, same HTML.
 */
import { type References, splitBlocks } from './blocks'
import { type RenderLabels, DEFAULT_LABELS, md } from './md'
import { repairStreaming } from './repair'
import { sanitizeHtml } from './sanitize'

export interface RenderOptions {
  /** The text is still being written: repair the last block so it does not jump around. */
  streaming?: boolean
  labels?: RenderLabels
}

export function renderBlock(block: string, references: References, labels: RenderLabels): string {
  const env = { references: { ...references }, labels, lines: block.split('\n') }
  return sanitizeHtml(md.render(block, env))
}

export interface RenderedBlocks {
  blocks: string[]
  /** The source of each block (after streaming repair); a stable cache key. */
  sources: string[]
}

/** Render each top-level block; `cache` maps block source → HTML and is reused across calls. */
export function renderBlocks(src: string, options: RenderOptions = {}, cache?: Map<string, string>): RenderedBlocks {
  const labels = options.labels ?? DEFAULT_LABELS
  const { blocks, references } = splitBlocks(md, src)
  const refsKey = Object.keys(references).length ? JSON.stringify(references) : ''
  const sources = blocks.map((b, i) => (options.streaming && i === blocks.length - 1 ? repairStreaming(b) : b))
  const html = sources.map((source) => {
    const key = refsKey ? `${refsKey}\u0000${source}` : source
    const hit = cache?.get(key)
    if (hit !== undefined) return hit
    const out = renderBlock(source, references, labels)
    cache?.set(key, out)
    return out
  })
  return { blocks: html, sources }
}

export function render(src: string, options: RenderOptions = {}): string {
  return renderBlocks(src, options).blocks.join('')
}
