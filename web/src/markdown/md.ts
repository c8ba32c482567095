/** The one configured markdown-it instance: no raw HTML, linkify, KaTeX, highlighted code, safe images. */
import MarkdownItCtor from 'markdown-it'
import type { MarkdownIt, Token } from 'markdown-it'
import type { References } from './blocks'
import { escapeHtml, fenceLanguage, highlight } from './highlight'
import { mathPlugin } from './math'

export interface RenderLabels {
  copy: string
  loadImage: string
}

export const DEFAULT_LABELS: RenderLabels = { copy: 'Copy', loadImage: 'Load image' }

export interface RenderEnv {
  labels?: RenderLabels
  references?: References
  /** The source lines of the block being rendered (to tell closed fences from open ones). */
  lines?: string[]
}

function isFenceClosed(token: Token, env: RenderEnv): boolean {
  const map = token.map
  if (!map || !env.lines || map[1] - map[0] < 2) return false
  const last = (env.lines[map[1] - 1] ?? '').trim()
  const marker = token.markup
  return last.length >= marker.length && last.startsWith(marker) && /^([`~])\1*$/.test(last)
}

function fence(tokens: Token[], idx: number, _opts: unknown, env: RenderEnv): string {
  const token = tokens[idx]
  const lang = fenceLanguage(token.info)
  const code = token.content
  if (lang === 'mermaid') {
    const complete = isFenceClosed(token, env)
    return (
      `<div class="mermaid-block" data-mermaid="${complete ? 'ready' : 'pending'}">` +
      `<pre class="mermaid-source"><code>${escapeHtml(code)}</code></pre></div>\n`
    )
  }
  const labels = env.labels ?? DEFAULT_LABELS
  const label = lang || 'text'
  return (
    `<div class="code-block" data-lang="${escapeHtml(label)}">` +
    `<div class="code-header"><span class="code-lang">${escapeHtml(label)}</span>` +
    `<button type="button" class="code-copy" data-action="copy-code">${escapeHtml(labels.copy)}</button></div>` +
    `<pre><code class="hljs${lang ? ` language-${escapeHtml(lang)}` : ''}">${highlight(code, lang)}</code></pre></div>\n`
  )
}

const DATA_IMAGE = /^data:image\/(png|gif|jpe?g|webp);base64,/i

function image(tokens: Token[], idx: number, opts: unknown, env: RenderEnv, self: MarkdownIt['renderer']): string {
  const token = tokens[idx]
  const src = String(token.attrGet('src') ?? '')
  const alt = self.renderInlineAsText(token.children ?? [], opts as never, env as never)
  if (DATA_IMAGE.test(src)) return `<img src="${escapeHtml(src)}" alt="${escapeHtml(alt)}">`
  let host = ''
  try {
    const url = new URL(src)
    if (url.protocol === 'http:' || url.protocol === 'https:') host = url.host
  } catch {
    host = ''
  }
  if (!host) return `<span class="md-image-blocked">${escapeHtml(alt || src)}</span>`
  // Not fetched until the person clicks: a remote image is a zero-click exfiltration channel.
  const labels = env.labels ?? DEFAULT_LABELS
  return (
    `<button type="button" class="md-image" data-action="load-image" data-src="${escapeHtml(src)}" data-alt="${escapeHtml(alt)}" title="${escapeHtml(src)}">` +
    `<span class="md-image-label">${escapeHtml(labels.loadImage)}</span>` +
    `<span class="md-image-alt">${escapeHtml(alt)}</span><span class="md-image-host">${escapeHtml(host)}</span></button>`
  )
}

export function createMarkdown(): MarkdownIt {
  const md = new MarkdownItCtor({ html: false, linkify: true, breaks: false, typographer: false })
  md.linkify.set({ fuzzyEmail: false })
  md.use(mathPlugin)
  md.renderer.rules.fence = fence as never
  md.renderer.rules.image = image as never
  // Only http(s) and mailto links survive (images are handled above and may be data:image/*).
  const validate = md.validateLink.bind(md)
  md.validateLink = (url: string) => {
    const u = url.trim().toLowerCase()
    if (u.startsWith('data:image/')) return validate(url)
    return /^(https?:|mailto:)/.test(u) || !/^[a-z][a-z0-9+.-]*:/.test(u) ? validate(url) : false
  }
  return md
}

export const md = createMarkdown()
