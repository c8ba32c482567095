import { describe, expect, it } from 'vitest'
import type { Message } from '@/api/types'
import { answerNote, conversationHtml, exportConversationHtml, type ExportLabels } from './exportHtml'

const labels: ExportLabels = {
  you: 'You',
  assistant: 'Assistant',
  stopped: 'Stopped',
  interrupted: 'This answer was interrupted before it finished.',
  failed: 'The answer failed',
  unfinished: 'Still being written',
  thoughts: 'Thoughts',
  diagram: (s) => `Diagram: ${s}`,
}

function message(role: 'user' | 'assistant', content: string, extra: Partial<Message> = {}): Message {
  return {
    id: `${role}-${content.length}`,
    parent_id: null,
    role,
    content,
    reasoning: '',
    status: 'complete',
    model: null,
    error: null,
    prompt_tokens: null,
    completion_tokens: null,
    created_at: '2026-03-10T10:00:00Z',
    updated_at: '2026-03-10T10:00:00Z',
    ...extra,
  }
}

describe('the HTML export', () => {
  it('says how each answer ended', () => {
    const text = (e: unknown) => `error ${(e as { code: string }).code}`
    expect(answerNote(message('assistant', 'x'), labels, text)).toBeNull()
    expect(answerNote(message('assistant', 'x', { status: 'stopped' }), labels, text)).toEqual({
      kind: 'stopped',
      text: 'Stopped',
    })
    expect(answerNote(message('assistant', 'x', { status: 'interrupted' }), labels, text)?.kind).toBe('warning')
    expect(
      answerNote(
        message('assistant', '', { status: 'error', error: { code: 'upstream_error', message: 'm' } }),
        labels,
        text,
      ),
    ).toEqual({ kind: 'error', text: 'error upstream_error' })
    expect(answerNote(message('assistant', 'x', { status: 'streaming' }), labels, text)?.text).toBe(
      'Still being written',
    )
  })

  it('renders markdown, highlighted code and math, with no script and no way to fetch anything', async () => {
    const html = await exportConversationHtml({
      title: 'Math <and> code',
      lang: 'en-US',
      exported: 'Exported today',
      labels,
      errorText: () => 'failed',
      messages: [
        message('user', 'Show me <b>math</b>'),
        message(
          'assistant',
          '**Bold** and $x^2$\n\n```python\nprint("hi")\n```\n\n![pic](https://example.com/a.png)\n\n<script>alert(1)</script>',
          { status: 'stopped', model: 'fake-model' },
        ),
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

  it("shows a question's images inline (data: URLs only) and its documents by name, and an answer's tool calls folded", async () => {
    const image = {
      id: 'i1',
      name: 'shot <1>.png',
      kind: 'image' as const,
      media_type: 'image/png',
      size: 3,
      width: 1,
      height: 1,
      tokens: null,
      note: null,
    }
    const doc = { ...image, id: 'd1', name: 'report.pdf', kind: 'document' as const, media_type: 'application/pdf' }
    const evil = { ...image, id: 'e1', name: 'evil.png' }
    const html = await exportConversationHtml({
      title: 'Files',
      lang: 'en-US',
      exported: 'e',
      labels: { ...labels, called: (n) => `Called ${n}` },
      errorText: () => 'failed',
      readImage: async (f) => (f.id === 'i1' ? 'data:image/png;base64,iVBORw0KGgo=' : 'javascript:alert(1)'),
      messages: [
        message('user', 'Look', { attachments: [image, doc, evil] }),
        message('assistant', 'Done', {
          parts: [{ type: 'tool_call', id: 'c1', name: 'get_weather', arguments: '{"city":"<Paris>"}' }],
        }),
      ],
    })
    expect(html).toContain('<img src="data:image/png;base64,iVBORw0KGgo=" alt="shot &lt;1&gt;.png">')
    expect(html).toContain('report.pdf')
    expect(html).not.toContain('javascript:')
    expect(html).toContain('evil.png') // by name only
    expect(html).toContain('<details class="tool-call"><summary>Called get_weather</summary>')
    expect(html).toContain('&quot;city&quot;: &quot;&lt;Paris&gt;&quot;')
  })

  it('is the same for the same turns', () => {
    const input = { title: 't', lang: 'en-US', exported: 'e', labels, fontCss: '', math: false, turns: [] }
    expect(conversationHtml(input)).toBe(conversationHtml(input))
    expect(conversationHtml(input)).not.toContain('.katex .katex-mathml')
  })
})
