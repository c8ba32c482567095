/**
 * A conversation as one self-contained HTML file, readable with scripts off and offline: the
 * answers go through the same markdown pipeline as on screen (sanitised, code highlighted), math
 * is KaTeX's HTML with its stylesheet and the fonts it uses inlined, diagrams are their SVG, and
 * each answer says whether it was stopped, interrupted or failed. The file forbids scripts and
 * every fetch with its own Content-Security-Policy.
 */
import katexCss from 'katex/dist/katex.min.css?raw'
import { attachmentUrl } from '@/api/attachments'
import type { Attachment, Message } from '@/api/types'
import { formatArguments, isToolCall } from '@/lib/attachments'
import { renderMermaid } from '@/markdown/mermaid'
import { render } from '@/markdown/render'
import highlightCss from '@/styles/highlight.css?raw'
import markdownCss from '@/styles/markdown.css?raw'
import { embeddedFontCss } from './fonts'

export interface ExportLabels {
  you: string
  assistant: string
  stopped: string
  interrupted: string
  failed: string
  unfinished: string
  thoughts: string
  diagram: (source: string) => string
  /** "Called get_weather" above a function call's arguments. */
  called?: (name: string) => string
}

/** A question's file in the file: an image as a data: URL (the page fetches nothing), a document by name. */
export interface ExportFile {
  name: string
  kind: 'image' | 'document'
  /** Images only: `data:image/…;base64,…` (null when it could not be read). */
  src: string | null
}

/** One turn, ready to print: `html` is sanitised markup (answers) or '' (a question: `text`). */
export interface ExportTurn {
  role: 'user' | 'assistant'
  text: string
  html: string
  reasoningHtml: string
  /** A sentence when the answer did not end normally. */
  note: { kind: 'stopped' | 'warning' | 'error'; text: string } | null
  model: string | null
  files?: ExportFile[]
  toolCalls?: { name: string; arguments: string }[]
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c])
}

/** What to say under an answer that did not finish normally (null when it did). */
export function answerNote(
  message: Pick<Message, 'status' | 'error'>,
  labels: ExportLabels,
  errorText: (error: unknown) => string,
): ExportTurn['note'] {
  if (message.status === 'error' || message.error) {
    return { kind: 'error', text: message.error ? errorText(message.error) : labels.failed }
  }
  if (message.status === 'interrupted') return { kind: 'warning', text: labels.interrupted }
  if (message.status === 'stopped') return { kind: 'stopped', text: labels.stopped }
  if (message.status === 'streaming' || message.status === 'queued') return { kind: 'warning', text: labels.unfinished }
  return null
}

const PAGE_CSS = `
:root{--cg-font:ui-sans-serif,system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,"Noto Sans","PingFang SC","Hiragino Sans GB","Microsoft YaHei","Noto Sans CJK SC",sans-serif;
--cg-mono:ui-monospace,SFMono-Regular,Menlo,Consolas,"Liberation Mono",monospace;--cg-bg:#fff;--cg-bg-soft:#f9f9f9;
--cg-text:#0d0d0d;--cg-muted:#5f5f5f;--cg-border:#e5e5e5;--cg-bubble:#f1f1f1;--cg-accent:#0a765b;--cg-code-bg:#f6f8fa;
--cg-code-head:#eceef1;--cg-hover:#ececec;--cg-danger:#c0283f;--cg-warn:#8f5b00;color-scheme:light}
*{box-sizing:border-box}
body{margin:0;background:var(--cg-bg);color:var(--cg-text);font-family:var(--cg-font);line-height:1.6;-webkit-font-smoothing:antialiased}
main{max-width:48rem;margin:0 auto;padding:2rem 1rem 4rem}
.title{font-size:1.6rem;line-height:1.3;margin:0 0 .3rem;overflow-wrap:anywhere}
.meta{margin:0 0 2rem;color:var(--cg-muted);font-size:.85rem}
.turn{margin:0 0 1.75rem}
.turn-user{display:flex;flex-direction:column;align-items:flex-end}
.who{margin-bottom:.3rem;color:var(--cg-muted);font-size:.75rem;font-weight:600;text-transform:uppercase;letter-spacing:.04em}
.bubble{max-width:min(85%,40rem);padding:.6rem 1rem;border-radius:1.25rem;background:var(--cg-bubble);white-space:pre-wrap;overflow-wrap:anywhere}
.model{margin-top:.4rem;color:var(--cg-muted);font-size:.75rem}
.note{margin-top:.75rem;padding:.5rem .75rem;border-radius:10px;font-size:.875rem}
.note-warning{color:var(--cg-warn);border:1px solid #e6cf9e;background:#fbf6ea}
.note-error{color:var(--cg-danger);border:1px solid #edb8c1;background:#fcf1f3}
.note-stopped{padding:0;color:var(--cg-muted);font-size:.8rem}
details.thoughts{margin:0 0 .75rem;padding-left:.85rem;border-left:2px solid var(--cg-border);color:var(--cg-muted);font-size:.9rem}
details.thoughts summary{cursor:pointer;margin-left:-.85rem;padding-left:.85rem}
.markdown-body ul,.markdown-body ol{padding-left:1.5rem}
.markdown-body blockquote{margin:1em 0;padding-left:1em;border-left:3px solid var(--cg-border)}
.markdown-body img{max-width:100%}
.markdown-body .mermaid-view svg{max-width:100%;height:auto}
.files{display:flex;flex-wrap:wrap;justify-content:flex-end;gap:.4rem;margin:0 0 .4rem;padding:0;list-style:none;max-width:min(85%,40rem)}
.files img{display:block;max-width:min(320px,100%);max-height:320px;border-radius:12px;border:1px solid var(--cg-border)}
.file{display:inline-block;padding:.35rem .75rem;border-radius:12px;border:1px solid var(--cg-border);font-size:.85rem;overflow-wrap:anywhere}
details.tool-call{margin:0 0 .5rem;color:var(--cg-muted);font-size:.9rem}
details.tool-call summary{cursor:pointer}
details.tool-call pre{margin:.3rem 0 0;padding:.6rem .75rem;border-radius:8px;background:var(--cg-code-bg);color:var(--cg-text);font-family:var(--cg-mono);font-size:.8rem;overflow-x:auto}
`

/** Only an image the server re-encoded may be put in the page: a data: URL of an image type, nothing else. */
const IMAGE_DATA_URL = /^data:image\/(png|jpeg|webp|gif);base64,[A-Za-z0-9+/=]+$/

function filesHtml(files: ExportFile[]): string {
  if (!files.length) return ''
  const items = files.map((f) =>
    f.kind === 'image' && f.src && IMAGE_DATA_URL.test(f.src)
      ? `<li><img src="${f.src}" alt="${escapeHtml(f.name)}"></li>`
      : `<li class="file">📄 ${escapeHtml(f.name)}</li>`,
  )
  return `<ul class="files">${items.join('')}</ul>`
}

function toolCallsHtml(calls: { name: string; arguments: string }[], labels: ExportLabels): string {
  return calls
    .map((c) => {
      const summary = labels.called ? labels.called(c.name) : `Called ${c.name}`
      return `<details class="tool-call"><summary>${escapeHtml(summary)}</summary><pre><code>${escapeHtml(formatArguments(c.arguments))}</code></pre></details>`
    })
    .join('')
}

/** The whole file. Pure: the same turns give the same bytes. */
export function conversationHtml(input: {
  title: string
  lang: string
  exported: string
  turns: ExportTurn[]
  labels: ExportLabels
  fontCss: string
  math: boolean
}): string {
  const { labels } = input
  const body = input.turns
    .map((turn) => {
      if (turn.role === 'user') {
        return (
          `<section class="turn turn-user"><div class="who">${escapeHtml(labels.you)}</div>` +
          `${filesHtml(turn.files ?? [])}<div class="bubble">${escapeHtml(turn.text)}</div></section>`
        )
      }
      const thoughts = turn.reasoningHtml
        ? `<details class="thoughts"><summary>${escapeHtml(labels.thoughts)}</summary><div class="markdown-body">${turn.reasoningHtml}</div></details>`
        : ''
      const note = turn.note ? `<p class="note note-${turn.note.kind}">${escapeHtml(turn.note.text)}</p>` : ''
      const model = turn.model ? `<div class="model">${escapeHtml(turn.model)}</div>` : ''
      return (
        `<section class="turn turn-assistant"><div class="who">${escapeHtml(labels.assistant)}</div>` +
        `${thoughts}${toolCallsHtml(turn.toolCalls ?? [], labels)}<div class="markdown-body">${turn.html}</div>${note}${model}</section>`
      )
    })
    .join('\n')
  // KaTeX's own @font-face rules point at files next to its stylesheet; the embedded ones replace them.
  const mathCss = input.math ? katexCss.replace(/@font-face\{[^}]*\}/g, '') : ''
  return `<!doctype html>
<html lang="${escapeHtml(input.lang)}">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="ChatGate">
<title>${escapeHtml(input.title)}</title>
<style>${PAGE_CSS}
${markdownCss}
${highlightCss}
${mathCss}
${input.fontCss}</style>
</head>
<body>
<main>
<h1 class="title">${escapeHtml(input.title)}</h1>
<p class="meta">${escapeHtml(input.exported)}</p>
${body}
</main>
</body>
</html>
`
}

/** Markup from the on-screen pipeline, made for a file: no Copy buttons, remote images as links, diagrams drawn. */
async function forFile(markdown: string, labels: ExportLabels): Promise<string> {
  const doc = new DOMParser().parseFromString(`<div id="root">${render(markdown)}</div>`, 'text/html')
  const root = doc.getElementById('root')!
  root.querySelectorAll('button.code-copy').forEach((b) => b.remove())
  root.querySelectorAll<HTMLElement>('button.md-image').forEach((button) => {
    const link = doc.createElement('a')
    link.href = button.dataset.src ?? ''
    link.rel = 'noopener noreferrer'
    link.textContent = button.dataset.alt || button.dataset.src || ''
    button.replaceWith(link)
  })
  for (const block of Array.from(root.querySelectorAll<HTMLElement>('.mermaid-block'))) {
    const source = block.querySelector('.mermaid-source')?.textContent ?? ''
    if (block.dataset.mermaid !== 'ready' || !source.trim()) continue
    try {
      const svg = await renderMermaid(source, false)
      const figure = doc.createElement('div')
      figure.className = 'mermaid-view'
      figure.setAttribute('role', 'img')
      figure.setAttribute('aria-label', labels.diagram(source.replace(/\s+/g, ' ').trim().slice(0, 300)))
      figure.innerHTML = svg // sanitised by renderMermaid
      block.prepend(figure)
      block.dataset.mermaid = 'done'
    } catch {
      // the source stays, as code
    }
  }
  return root.innerHTML
}

/** Build the file for the messages on screen (the branch shown). Runs in the page (needs the DOM). */
export async function exportConversationHtml(options: {
  title: string
  lang: string
  exported: string
  messages: Message[]
  labels: ExportLabels
  errorText: (error: unknown) => string
  /** Reads an image's bytes as a data: URL (the owner's copy by default). */
  readImage?: (file: Attachment) => Promise<string | null>
}): Promise<string> {
  const { labels } = options
  const readImage = options.readImage ?? imageAsDataUrl
  const turns: ExportTurn[] = []
  for (const m of options.messages) {
    if (m.role === 'user') {
      const files: ExportFile[] = []
      for (const a of m.attachments ?? []) {
        files.push({
          name: a.name,
          kind: a.kind,
          src: a.kind === 'image' ? await readImage(a).catch(() => null) : null,
        })
      }
      turns.push({ role: 'user', text: m.content, html: '', reasoningHtml: '', note: null, model: null, files })
      continue
    }
    turns.push({
      role: 'assistant',
      text: m.content,
      html: m.content ? await forFile(m.content, labels) : '',
      reasoningHtml: m.reasoning ? await forFile(m.reasoning, labels) : '',
      note: answerNote(m, labels, options.errorText),
      model: m.model,
      toolCalls: (m.parts ?? []).filter(isToolCall).map((c) => ({ name: c.name, arguments: c.arguments })),
    })
  }
  // Which KaTeX fonts the answers use: measured on a hidden copy laid out with the page's styles.
  const probe = document.createElement('div')
  probe.className = 'markdown-body'
  probe.setAttribute('aria-hidden', 'true')
  probe.style.cssText = 'position:fixed;left:-10000px;top:0;width:48rem;visibility:hidden'
  probe.innerHTML = turns.map((t) => t.html + t.reasoningHtml).join('')
  document.body.append(probe)
  let fontCss = ''
  let math: boolean
  try {
    math = probe.querySelector('.katex') !== null
    if (math) {
      await document.fonts?.ready
      fontCss = await embeddedFontCss(probe)
    }
  } finally {
    probe.remove()
  }
  return conversationHtml({
    title: options.title,
    lang: options.lang,
    exported: options.exported,
    turns,
    labels,
    fontCss,
    math,
  })
}

/** The owner's copy of an image as a data: URL. */
async function imageAsDataUrl(file: Attachment): Promise<string | null> {
  const res = await fetch(attachmentUrl(file.id), { credentials: 'same-origin' })
  if (!res.ok) return null
  const blob = await res.blob()
  return await new Promise<string | null>((resolve) => {
    const reader = new FileReader()
    reader.onload = () => resolve(typeof reader.result === 'string' ? reader.result : null)
    reader.onerror = () => resolve(null)
    reader.readAsDataURL(blob)
  })
}
