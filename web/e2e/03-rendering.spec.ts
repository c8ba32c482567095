import { MERMAID_PAYLOADS, XSS_PAYLOADS } from '../src/markdown/payloads'
import type { BrowserContext, Page } from '@playwright/test'
import { answers, expect, send, shot, state, test, type Upstream } from './fixtures'

const CODE = 'def greet(name):\n    return f"Hello, {name}!"\n'
const RICH = [
  'Here is some code:',
  '',
  '```python',
  CODE + '```',
  '',
  'Euler wrote $e^{i\\pi} + 1 = 0$, and in LaTeX delimiters \\(a^2 + b^2 = c^2\\). Display math:',
  '',
  '$$\\int_0^1 x^2\\,dx = \\frac{1}{3}$$',
  '',
  '| Language | Year |',
  '|---|---|',
  '| Python | 1991 |',
  '| Rust | 2015 |',
  '',
  '```mermaid',
  'graph TD',
  '  A[Start] --> B{Works?}',
  '  B -->|Yes| C[Ship it]',
  '  B -->|No| D[Fix it]',
  '```',
  '',
  'Read [the docs](https://example.com/docs).',
].join('\n')

test('code with highlighting and a working copy button, KaTeX, a mermaid diagram and a table all render', async ({
  signedIn: page,
  upstream,
  context,
}) => {
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: state.url })
  await upstream.configure({ reply: RICH, token_delay: 0.005 })
  await send(page, 'Show me everything you can render')
  const answer = answers(page).last()
  // The finished render: mid-stream, a half-typed fence (```m…) is a second code block for a moment.
  await expect(answer).toHaveAttribute('data-status', 'complete')

  const code = answer.locator('.code-block')
  await expect(code.locator('.code-lang')).toHaveText('python')
  await expect(code.locator('.hljs-keyword').first()).toHaveText('def')
  await expect(code.locator('pre code')).toHaveText(CODE)

  await expect(answer.locator('.katex')).toHaveCount(3)
  await expect(answer.locator('.katex-display')).toHaveCount(1)
  await expect(answer.locator('.katex-error')).toHaveCount(0)

  const table = answer.getByRole('table')
  await expect(table.getByRole('columnheader', { name: 'Language' })).toBeVisible()
  await expect(table.getByRole('cell', { name: 'Rust' })).toBeVisible()

  await expect(answer.locator('.mermaid-view svg')).toBeVisible({ timeout: 20_000 })
  await expect(answer.locator('.mermaid-view')).toContainText('Ship it')

  const link = answer.getByRole('link', { name: 'the docs' })
  await expect(link).toHaveAttribute('target', '_blank')
  await expect(link).toHaveAttribute('rel', 'noopener noreferrer')

  await code.getByRole('button', { name: 'Copy' }).click()
  await expect(code.getByRole('button', { name: 'Copied' })).toBeVisible()
  expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(CODE)
  await answer.locator('.code-block').scrollIntoViewIfNeeded()
  await shot(page, '03-rich-render')
  await answer.locator('.mermaid-view').scrollIntoViewIfNeeded()
  await shot(page, '03-mermaid')
})

async function assertPayloadsInert(
  page: Page,
  upstream: Upstream,
  context: BrowserContext,
  screenshot: string,
): Promise<void> {
  const foreign: string[] = []
  await context.route(
    (url) => !url.href.startsWith(state.url),
    async (route) => {
      foreign.push(route.request().url())
      await route.abort()
    },
  )
  await page.addInitScript(() => {
    ;(window as unknown as { __pwned: () => void }).__pwned = () => {
      ;(window as unknown as { __pwnedCalls: number }).__pwnedCalls =
        ((window as unknown as { __pwnedCalls?: number }).__pwnedCalls ?? 0) + 1
    }
  })
  const dialogs: string[] = []
  page.on('dialog', async (d) => {
    dialogs.push(d.message())
    await d.dismiss()
  })
  await page.reload()

  const payload = [...XSS_PAYLOADS, ...MERMAID_PAYLOADS].join('\n\n')
  await upstream.configure({ reply: payload, token_delay: 0 })
  await send(page, payload)
  const answer = answers(page).last()
  await expect(answer.locator('.message-toolbar')).toBeVisible({ timeout: 20_000 })
  // Wait for every diagram to be rendered (or refused).
  await expect(answer.locator('.mermaid-block[data-mermaid="done"], .mermaid-block[data-mermaid="error"]')).toHaveCount(
    MERMAID_PAYLOADS.length,
    { timeout: 20_000 },
  )

  // Hover every link and diagram node, as a curious reader would.
  for (const a of await answer.locator('a').all()) await a.hover().catch(() => undefined)
  for (const node of await answer.locator('.mermaid-view .node').all()) await node.hover().catch(() => undefined)
  await page.waitForTimeout(500)

  expect(await page.evaluate(() => (window as unknown as { __pwnedCalls?: number }).__pwnedCalls ?? 0)).toBe(0)
  expect(dialogs).toEqual([])
  expect(foreign).toEqual([])
  const dangerous = await page.evaluate(() => {
    const out: string[] = []
    for (const el of document.querySelectorAll('#app *')) {
      for (const attr of Array.from(el.attributes)) {
        const v = attr.value.trim().toLowerCase()
        if (attr.name.startsWith('on')) out.push(`${el.tagName} ${attr.name}`)
        if (
          ['href', 'src', 'xlink:href', 'action', 'formaction', 'data'].includes(attr.name) &&
          /^(javascript|vbscript|data:text)/.test(v)
        )
          out.push(`${el.tagName} ${attr.name}=${v}`)
      }
    }
    for (const f of document.querySelectorAll('iframe, object, embed, form')) out.push(f.tagName)
    return out
  })
  expect(dangerous).toEqual([])
  // The app is still alive and responsive.
  await expect(page.getByRole('textbox', { name: 'Message', exact: true })).toBeEditable()
  await shot(page, screenshot)
}

test.describe("with the server's CSP switched off in the browser (the renderer alone must hold)", () => {
  test.use({ bypassCSP: true })
  test('a message full of XSS payloads runs no script and fetches nothing from other origins', async ({
    signedIn: page,
    upstream,
    context,
  }) => {
    await assertPayloadsInert(page, upstream, context, '03-xss-payloads')
  })
})

test.describe("with the server's CSP", () => {
  // DOMPurify (inside mermaid) parses label HTML in an inert document; Chromium reports the
  // attribute handlers it sees there as blocked, although nothing could ever run.
  test.use({ cspAllowed: [/Executing inline event handler/] })
  test('the XSS payload message also stays inert with the CSP on', async ({ signedIn: page, upstream, context }) => {
    await assertPayloadsInert(page, upstream, context, '03-xss-payloads-csp')
  })
})

test('remote images load only when clicked', async ({ signedIn: page, upstream, context }) => {
  const foreign: string[] = []
  await context.route('https://img.example/**', async (route) => {
    foreign.push(route.request().url())
    await route.fulfill({ status: 404, body: '' })
  })
  await upstream.configure({ reply: 'A picture: ![a cat](https://img.example/cat.png)', token_delay: 0 })
  await send(page, 'Show me a cat')
  const placeholder = answers(page)
    .last()
    .getByRole('button', { name: /Load image/ })
  await expect(placeholder).toContainText('img.example')
  await page.waitForTimeout(500)
  expect(foreign).toEqual([])
  await shot(page, '03-image-placeholder')
  await placeholder.click()
  await expect.poll(() => foreign).toEqual(['https://img.example/cat.png'])
  await expect(answers(page).last().getByRole('link', { name: 'https://img.example/cat.png' })).toBeVisible()
})
