import { describe, expect, it } from 'vitest'
import type { Message } from '@/api/types'
import { answerNote, conversationHtml, exportConversationHtml, type ExportLabels } from './exportHtml'

const labels: ExportLabels = {
  you: 'You', assistant: 'Assistant', stopped: 'Stopped', interrupted: 'This answer was interrupted before it finished.',
  failed: 'The answer failed', unfinished: 'Still being written', thoughts: 'Thoughts', diagram: (s) => `Diagram: ${s}`,
}

function message(role: 'user' | 'assistant', content: string, extra: Partial<Message> = {}): Message {
  return {
    id: `${role}-${content.length}`, parent_id: null, role, content, reasoning: '', status: 'complete', model: null, error: null,
    prompt_tokens: null, completion_tokens: null, created_at: '2026-03-10T10:00:00Z', updated_at: '2026-03-10T10:00:00Z', ...extra,
  }
}

describe('the HTML export', () => {
  it('says how each answer ended', () => {
    const text = (e: unknown) => `error ${(e as { code: string }).code}`
    expect(answerNote(message('assistant', 'x'), labels, text)).toBeNull()
    expect(answerNote(message('assistant', 'x', { status: 'stopped' }), labels, text)).toEqual({ kind: 'stopped', text: 'Stopped' })
    expect(answerNote(message('assistant', 'x', { status: 'interrupted' }), labels, text)?.kind).toBe('warning')
    expect(answerNote(message('assistant', '', { status: 'error', error: { code: 'upstream_error', message: 'm' } }), labels, text))
      .toEqual({ kind: 'error', text: 'error upstream_error' })
    expect(answerNote(message('assistant', 'x', { status: 'streaming' }), labels, text)?.text).toBe('Still being written')
  })

  it('renders markdown, highlighted code and math, with no script and no way to fetch anything', async () => {
    const html = await exportConversationHtml({
      title: 'Math <and> code', lang: 'en-US', exported: 'Exported today', labels, errorText: () => 'failed',
      messages: [
        message('user', 'Show me <b>math</b>'),
        message('assistant', '**Bold** and $x^2$\n\n```python\nprint("hi")\n```\n\n![pic](https://example.com/a.png)\n\n<script>alert(1)</script>', { status: 'stopped', model: 'fake-model' }),
      ],
    })
    expect(html).toContain('<title>Math &lt;and&gt; code</title>')
    expect(html).toContain('Show me &lt;b&gt;math&lt;/b&gt;')
    expect(html).toContain('<strong>Bold</strong>')
    expect(html).toContain('class="katex"')
    expect(html).toMatch(/\.katex\s*\{/) // KaTeX's stylesheet is inlined
    expect(html).toContain('hljs-built_in')
    expect(html).toContain('<p class="note note-stopped">Stopped</p>')
    expect(html).toContain('<a href="https://example.com/a.png"')
    const body = html.slice(html.indexOf('<body>'))
    expect(html).not.toMatch(/<script/i)
    expect(body).not.toMatch(/code-copy|data-action|<button/i)
    expect(body).toContain('&lt;script&gt;alert(1)&lt;/script&gt;')
    expect(html).toContain("default-src 'none'")
  })

  it('is the same for the same turns', () => {
    const input = { title: 't', lang: 'en-US', exported: 'e', labels, fontCss: '', math: false, turns: [] }
    expect(conversationHtml(input)).toBe(conversationHtml(input))
    expect(conversationHtml(input)).not.toContain(".katex .katex-mathml")
  })
})
