/**
 * Looks right when saved (issue 16, item 6): the saved picture draws math with KaTeX's own fonts
 * (inlined, so the integral sits right) and leaves out the Copy/Retry buttons; the HTML export is
 * the rendered conversation — markdown, highlighted code, math, diagrams, and a note under each
 * answer that was stopped or failed — readable in a browser with JavaScript off; every exported
 * file is named after the conversation's title. The pictures are kept in test-results/screens.
 */
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs'
import { pathToFileURL } from 'node:url'
import type { Download, Page } from '@playwright/test'
import { answers, expect, send, shot, test } from './fixtures'

const MATH_AND_CODE = [
  'The area under $y = x^2$ from 0 to 1:',
  '',
  '$$\\int_0^1 x^2\\,dx = \\left[\\frac{x^3}{3}\\right]_0^1 = \\frac{1}{3}$$',
  '',
  '```python',
  'def area(n: int) -> float:',
  '    """Riemann sum of x² on [0, 1]."""',
  '    return sum((i / n) ** 2 for i in range(n)) / n',
  '```',
  '',
  '- exact: $\\frac{1}{3}$',
  '- with `area(1000)`: 0.3328',
].join('\n')

async function download(page: Page, action: () => Promise<unknown>): Promise<{ download: Download; path: string }> {
  const [download] = await Promise.all([page.waitForEvent('download'), action()])
  const path = test.info().outputPath(download.suggestedFilename())
  await download.saveAs(path)
  return { download, path }
}

function keep(path: string, name: string): void {
  mkdirSync('test-results/screens', { recursive: true })
  copyFileSync(path, `test-results/screens/${name}`)
}

test("the saved image draws math with KaTeX's fonts and leaves the buttons out; files are named after the title", async ({
  signedIn: page,
  upstream,
}) => {
  await upstream.configure({ reply: MATH_AND_CODE, token_delay: 0 })
  await send(page, 'Integrate x squared, with code')
  const answer = answers(page).last()
  await expect(answer.locator('.katex-display')).toBeVisible()
  await expect(answer.locator('.code-copy')).toBeVisible()
  const title = (await page.locator('.chat-title').textContent())!.trim()
  expect(title).toBe('Integrate x squared, with code')

  // The fonts the picture embeds are fetched (as data URLs) when it is drawn.
  await page.evaluate(() => {
    const w = window as unknown as { __fetched: string[]; fetch: typeof fetch }
    const original = w.fetch.bind(window)
    w.__fetched = []
    w.fetch = (input, init) => {
      w.__fetched.push(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url)
      return original(input, init)
    }
  })
  const png = await download(page, () => page.getByRole('button', { name: 'Save conversation as image' }).click())
  expect(png.download.suggestedFilename()).toBe(`${title}.png`)
  const fetched: string[] = await page.evaluate(() => (window as unknown as { __fetched: string[] }).__fetched)
  expect(
    fetched.filter((u) => /KaTeX_(Main|Math|Size\d)-[^/]*\.woff2/.test(u)).length,
    fetched.join('\n'),
  ).toBeGreaterThanOrEqual(3)
  const bytes = readFileSync(png.path)
  expect(bytes.subarray(0, 8).toString('hex')).toBe('89504e470d0a1a0a')
  keep(png.path, '24-saved-image-math-and-code.png')

  const json = await download(page, async () => {
    await page.getByRole('button', { name: 'Export conversation' }).click()
    await page
      .getByRole('menuitem', { name: 'JSON' })
      .or(page.locator('.n-dropdown-option').getByText('JSON', { exact: true }))
      .first()
      .click()
  })
  expect(json.download.suggestedFilename()).toBe(`${title}.json`)
  expect(JSON.parse(readFileSync(json.path, 'utf8'))).toBeTruthy()
  const markdown = await download(page, async () => {
    await page.getByRole('button', { name: 'Export conversation' }).click()
    await page.locator('.n-dropdown-option').getByText('Markdown', { exact: true }).click()
  })
  expect(markdown.download.suggestedFilename()).toBe(`${title}.md`)
  expect(readFileSync(markdown.path, 'utf8')).toContain('\\int_0^1')
})

test('the HTML export reads with JavaScript off: markdown, code, math, a diagram, and how each answer ended', async ({
  signedIn: page,
  upstream,
  browser,
}) => {
  await upstream.configure({
    reply: `${MATH_AND_CODE}\n\n\`\`\`mermaid\ngraph LR\n  Batter --> Pan --> Plate\n\`\`\``,
    token_delay: 0,
  })
  await send(page, 'Integrate x squared, with code and a diagram')
  await expect(answers(page).last().locator('.mermaid-view svg')).toBeVisible()

  // An answer the reader stopped…
  await upstream.configure({ reply: Array.from({ length: 60 }, (_, i) => `word${i}`).join(' '), token_delay: 0.15 })
  await send(page, 'Count slowly')
  await expect(answers(page).last().locator('.markdown-body')).toContainText('word3')
  await page.getByRole('button', { name: 'Stop generating' }).click()
  await expect(answers(page).last()).toHaveAttribute('data-status', 'stopped')
  // …and one the upstream broke off.
  await upstream.configure({ reply: 'This will not finish properly at all', token_delay: 0 })
  await upstream.scenario('error_mid_stream', { after_tokens: 3 })
  await send(page, 'Fail, please')
  await expect(answers(page).last()).toHaveAttribute('data-status', 'error')
  await upstream.scenario('normal')

  const title = (await page.locator('.chat-title').textContent())!.trim()
  const html = await download(page, async () => {
    await page.getByRole('button', { name: 'Export conversation' }).click()
    await page.locator('.n-dropdown-option').getByText('HTML page', { exact: true }).click()
  })
  expect(html.download.suggestedFilename()).toBe(`${title}.html`)
  const text = readFileSync(html.path, 'utf8')
  expect(text).not.toMatch(/<script/i)
  expect(text).toContain("default-src 'none'")
  expect(text).toContain('class="katex-display"')
  expect(text).toMatch(/@font-face\{font-family:"KaTeX_Main"[^}]*src:url\(data:font\/woff2;base64,/)
  expect(text).toContain('class="hljs-keyword"')
  expect(text).toMatch(/<div class="mermaid-view" role="img" aria-label="Diagram: graph LR[^"]*"><svg/)
  expect(text).toContain('<p class="note note-stopped">Stopped</p>')
  expect(text).toMatch(/<p class="note note-error">[^<]+<\/p>/)

  // Opened from disk with JavaScript off: math is drawn with the embedded fonts, code is coloured.
  const context = await browser.newContext({ javaScriptEnabled: false, viewport: { width: 900, height: 1000 } })
  const reader = await context.newPage()
  await reader.goto(pathToFileURL(html.path).href)
  await expect(reader.locator('.katex-display .katex-html')).toBeVisible()
  await expect(reader.locator('.mermaid-view svg')).toBeVisible()
  await expect(reader.getByText('Stopped', { exact: true })).toBeVisible()
  expect(
    await reader.evaluate(
      () =>
        document.fonts.check('20px KaTeX_Main') &&
        [...document.fonts].some((f) => f.family.includes('KaTeX') && f.status === 'loaded'),
    ),
  ).toBe(true)
  expect(
    await reader
      .locator('.hljs-keyword')
      .first()
      .evaluate((el) => getComputedStyle(el).color),
  ).not.toBe('rgb(13, 13, 13)')
  await reader.screenshot({ path: 'test-results/screens/24-html-export-no-javascript.png', fullPage: true })

  // "Export everything" as an HTML page (written by the server): rendered the same way — math as
  // MathML, code coloured, each answer's ending — in the language of the interface.
  await page.goto('/account')
  const everything = await download(page, () => page.getByRole('link', { name: 'HTML page' }).click())
  const all = readFileSync(everything.path, 'utf8')
  expect(all).not.toMatch(/<script/i)
  expect(all).toContain("default-src 'none'")
  expect(all).toContain('lang="en-US"')
  expect(all).toContain('<math xmlns="http://www.w3.org/1998/Math/MathML" display="block">')
  expect(all).toContain('<p class="note note-stopped">Stopped</p>')
  expect(all).not.toContain('```')
  await reader.goto(pathToFileURL(everything.path).href)
  await expect(reader.locator('math[display="block"]').first()).toBeVisible()
  await expect(reader.getByText('Stopped', { exact: true })).toBeVisible()
  expect(
    await reader
      .locator('.hl-k')
      .first()
      .evaluate((el) => getComputedStyle(el).color),
  ).not.toBe('rgb(13, 13, 13)')
  await reader.screenshot({ path: 'test-results/screens/24-account-html-export-no-javascript.png', fullPage: true })
  await context.close()
  await shot(page, '24-conversation-exported')
})
