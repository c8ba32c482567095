import { describe, expect, it } from 'vitest'
import { XSS_PAYLOADS } from './payloads'
import { render, renderBlocks } from './render'

function dom(html: string): HTMLElement {
  const div = document.createElement('div')
  div.innerHTML = html
  return div
}

/** Everything that would let rendered content run script or fetch from elsewhere. */
function assertInert(html: string, context: string): void {
  const root = dom(html)
  const bad = root.querySelectorAll('script, iframe, object, embed, form, input, style, link, meta, base, frame')
  expect(bad.length, `${context}: forbidden element in ${html}`).toBe(0)
  for (const el of root.querySelectorAll('*')) {
    for (const attr of Array.from(el.attributes)) {
      const name = attr.name.toLowerCase()
      const value = attr.value.trim().toLowerCase()
      expect(name.startsWith('on'), `${context}: event handler ${name} in ${html}`).toBe(false)
      if (['href', 'xlink:href', 'action', 'formaction', 'src', 'srcset', 'data', 'poster'].includes(name)) {
        const safeLink = /^(https?:|mailto:)/.test(value) && name === 'href'
        const safeImage = name === 'src' && /^data:image\/(png|gif|jpe?g|webp);base64,/.test(value)
        expect(safeLink || safeImage, `${context}: ${name}="${attr.value}" in ${html}`).toBe(true)
      }
      if (name === 'style') expect(value, `${context}: style fetch`).not.toMatch(/url\s*\(|@import/)
    }
  }
  for (const a of root.querySelectorAll('a[href]')) {
    if (/^https?:/i.test(a.getAttribute('href')!)) {
      expect(a.getAttribute('rel')).toBe('noopener noreferrer')
      expect(a.getAttribute('target')).toBe('_blank')
    }
  }
  expect(root.querySelector('[id="config"], [name="getElementById"]')).toBeNull()
}

describe('render', () => {
  it('renders basic markdown', () => {
    const html = render('# Title\n\n**bold** and *it* and `code`\n\n- a\n- b')
    const root = dom(html)
    expect(root.querySelector('h1')?.textContent).toBe('Title')
    expect(root.querySelector('strong')?.textContent).toBe('bold')
    expect(root.querySelector('em')?.textContent).toBe('it')
    expect(root.querySelectorAll('li')).toHaveLength(2)
  })

  it('escapes raw HTML instead of interpreting it', () => {
    const root = dom(render('hello <b>world</b>'))
    expect(root.querySelector('b')).toBeNull()
    expect(root.textContent).toContain('<b>world</b>')
  })

  it('renders CJK text', () => {
    expect(dom(render('**你好**，世界')).querySelector('strong')?.textContent).toBe('你好')
  })

  it('highlights code with a language label and a copy button', () => {
    const root = dom(render('```python\ndef f():\n    return 1\n```'))
    const block = root.querySelector('.code-block')!
    expect(block.querySelector('.code-lang')?.textContent).toBe('python')
    expect(block.querySelector('button[data-action="copy-code"]')).not.toBeNull()
    expect(block.querySelector('code .hljs-keyword')?.textContent).toBe('def')
    expect(block.querySelector('code')?.textContent).toBe('def f():\n    return 1\n')
  })

  it('labels code without a language as text and never interprets the info string', () => {
    const root = dom(render('```"><img src=x onerror=alert(1)>\nx\n```'))
    expect(root.querySelector('.code-lang')?.textContent).toBe('text')
    expect(root.querySelector('img')).toBeNull()
  })

  it('uses the given labels', () => {
    const root = dom(render('```js\nx\n```', { labels: { copy: '复制', loadImage: '加载图片' } }))
    expect(root.querySelector('.code-copy')?.textContent).toBe('复制')
  })

  it.each([
    ['$E=mc^2$', false],
    ['$$\\int_0^1 x\\,dx$$', true],
    ['\\(a^2+b^2=c^2\\)', false],
    ['\\[\\sum_{i=1}^n i\\]', true],
    ['before\n\n$$\n\\frac{a}{b}\n$$\n\nafter', true],
  ])('renders KaTeX: %s', (src, display) => {
    const root = dom(render(src))
    expect(root.querySelector('.katex'), src).not.toBeNull()
    expect(root.querySelector('.katex-error')).toBeNull()
    expect(root.querySelector('.katex-display') !== null || root.querySelector('.katex-block') !== null).toBe(display)
    expect(root.querySelector('annotation')).not.toBeNull()
  })

  it('does not treat prices as math', () => {
    const root = dom(render('It costs $5 and $10.'))
    expect(root.querySelector('.katex')).toBeNull()
    expect(root.textContent).toContain('$5 and $10')
  })

  it('renders tables', () => {
    const root = dom(render('| a | b |\n|---|---|\n| 1 | 2 |'))
    expect(root.querySelectorAll('table th')).toHaveLength(2)
    expect(root.querySelector('table td')?.textContent).toBe('1')
  })

  it('marks complete mermaid fences ready and open ones pending', () => {
    const done = dom(render('```mermaid\ngraph TD\nA-->B\n```'))
    expect(done.querySelector('.mermaid-block')?.getAttribute('data-mermaid')).toBe('ready')
    expect(done.querySelector('.mermaid-source')?.textContent).toBe('graph TD\nA-->B\n')
    const open = dom(render('```mermaid\ngraph TD\nA-->B', { streaming: true }))
    expect(open.querySelector('.mermaid-block')?.getAttribute('data-mermaid')).toBe('pending')
  })

  it('opens links in a new tab without referrer', () => {
    const a = dom(render('[site](https://example.com/x)')).querySelector('a')!
    expect(a.getAttribute('href')).toBe('https://example.com/x')
    expect(a.getAttribute('target')).toBe('_blank')
    expect(a.getAttribute('rel')).toBe('noopener noreferrer')
  })

  it('linkifies bare URLs', () => {
    const a = dom(render('see https://example.com today')).querySelector('a')!
    expect(a.getAttribute('href')).toBe('https://example.com')
  })

  it('keeps mailto links and drops relative and other schemes', () => {
    const root = dom(render('[m](mailto:a@example.com) [r](/api/auth/logout) [f](ftp://x) [t](tel:1)'))
    const hrefs = Array.from(root.querySelectorAll('a[href]')).map((a) => a.getAttribute('href'))
    expect(hrefs).toEqual(['mailto:a@example.com'])
    expect(root.querySelector('a[href="/api/auth/logout"]')).toBeNull()
  })

  it('resolves reference-style links across blocks', () => {
    const a = dom(render('See [the docs][d].\n\nMore text.\n\n[d]: https://example.com/docs')).querySelector('a')!
    expect(a.getAttribute('href')).toBe('https://example.com/docs')
  })

  it('does not fetch remote images: it shows a click-to-load placeholder', () => {
    const root = dom(render('![cat](https://img.example/cat.png)'))
    expect(root.querySelector('img')).toBeNull()
    const button = root.querySelector('button[data-action="load-image"]')!
    expect(button.getAttribute('data-src')).toBe('https://img.example/cat.png')
    expect(button.textContent).toContain('img.example')
    expect(button.textContent).toContain('cat')
  })

  it('shows inline data: images', () => {
    const src = 'data:image/png;base64,iVBORw0KGgo='
    expect(
      dom(render(`![p](${src})`))
        .querySelector('img')
        ?.getAttribute('src'),
    ).toBe(src)
  })
})

describe('security payloads (§4.D)', () => {
  it.each(XSS_PAYLOADS.map((p) => [p]))('neutralises %j', (payload) => {
    assertInert(render(payload), 'complete')
    assertInert(render(payload, { streaming: true }), 'streaming')
  })

  it('neutralises all payloads together', () => {
    assertInert(render(XSS_PAYLOADS.join('\n\n')), 'combined')
  })

  it.each(XSS_PAYLOADS.map((p) => [p]))(
    'neutralises %j at every byte boundary while streaming',
    (payload) => {
      const encoder = new TextEncoder()
      {
        const bytes = encoder.encode(`Intro **text**\n\n${payload}\n\ntail`)
        const decoder = new TextDecoder()
        let text = ''
        for (let i = 0; i < bytes.length; i++) {
          text += decoder.decode(bytes.subarray(i, i + 1), { stream: true })
          assertInert(render(text, { streaming: true }), `prefix ${i} of ${JSON.stringify(payload)}`)
        }
      }
    },
    30_000,
  )

  it('renders KaTeX attacks as error text', () => {
    const root = dom(render('$\\href{javascript:__pwned()}{x}$ $\\includegraphics{https://evil.example/p.png}$'))
    expect(root.querySelector('a')).toBeNull()
    expect(root.querySelector('img')).toBeNull()
  })

  it('bounds KaTeX macro expansion', () => {
    const started = Date.now()
    const root = dom(render('$\\def\\a{\\a\\a}\\a$'))
    expect(Date.now() - started).toBeLessThan(2000)
    expect(root.textContent!.length).toBeGreaterThan(0)
  })
})

describe('renderBlocks', () => {
  it('reuses cached HTML for unchanged blocks', () => {
    const cache = new Map<string, string>()
    const first = renderBlocks('para one\n\n```js\nlet a', { streaming: true }, cache)
    const second = renderBlocks('para one\n\n```js\nlet a = 1', { streaming: true }, cache)
    expect(first.blocks).toHaveLength(2)
    expect(second.blocks[0]).toBe(first.blocks[0])
    expect(second.blocks[1]).not.toBe(first.blocks[1])
  })

  it('keeps earlier blocks identical while the answer grows', () => {
    const text =
      'Intro paragraph.\n\n- item one\n- item two\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\nFinal **bold** words.'
    let previous: string[] = []
    const cache = new Map<string, string>()
    for (let i = 1; i <= text.length; i++) {
      const { blocks } = renderBlocks(text.slice(0, i), { streaming: true }, cache)
      // Every block except the last two (the one being written and its predecessor that may still
      // absorb a lazy line) must equal what was rendered before.
      for (let b = 0; b < Math.min(previous.length, blocks.length) - 2; b++) expect(blocks[b]).toBe(previous[b])
      previous = blocks
    }
  }, 30_000)
})
