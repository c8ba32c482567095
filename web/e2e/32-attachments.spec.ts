/**
 * Attached files (issue 19, acceptance 1 and 2): a screenshot pasted into the message box and a
 * PDF dropped on the chat go with ONE question to a model that accepts images; the fake upstream
 * receives the image part and the PDF's text; the conversation, a reload, the shared view and the
 * Markdown and HTML exports show both. An image for a model that does not accept images is
 * refused before any upstream call, with a translated message (here and from the server, in
 * German too).
 */
import { readFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { APIRequestContext, Page } from '@playwright/test'
import { messages } from '../src/locales'
import { apiAs, expect, shot, signIn, state, test, type TestUser } from './fixtures'

const PDF_TEXT = 'Quarterly pancake report: 42 stacks served'

/** A minimal, valid one-page PDF whose page shows PDF_TEXT (offsets in the xref counted here). */
function minimalPdf(): string {
  const stream = `BT /F1 18 Tf 72 720 Td (${PDF_TEXT}) Tj ET`
  const objects = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>',
    `<< /Length ${stream.length} >>\nstream\n${stream}\nendstream`,
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>',
  ]
  let out = '%PDF-1.4\n'
  const offsets: number[] = []
  objects.forEach((body, i) => {
    offsets.push(out.length)
    out += `${i + 1} 0 obj\n${body}\nendobj\n`
  })
  const xref = out.length
  out += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`
  for (const offset of offsets) out += `${String(offset).padStart(10, '0')} 00000 n \n`
  out += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`
  return out
}

/** Paste a screenshot (a PNG drawn on a canvas in the page) into the message box, as a clipboard would. */
async function pasteScreenshot(page: Page, name = 'image.png'): Promise<void> {
  await page.locator('textarea.chat-textarea').evaluate(async (area, fileName) => {
    const canvas = document.createElement('canvas')
    canvas.width = 120
    canvas.height = 80
    const g = canvas.getContext('2d')!
    g.fillStyle = '#10a37f'
    g.fillRect(0, 0, 120, 80)
    g.fillStyle = '#ffd666'
    g.fillRect(20, 20, 80, 40)
    const blob = await new Promise<Blob>((resolve) => canvas.toBlob((b) => resolve(b!), 'image/png'))
    const data = new DataTransfer()
    data.items.add(new File([blob], fileName, { type: 'image/png' }))
    area.dispatchEvent(new ClipboardEvent('paste', { clipboardData: data, bubbles: true, cancelable: true }))
  }, name)
}

/** Drop a file on the chat (not the message box): dragenter, dragover, drop, as a file manager would. */
async function dropFile(page: Page, target: string, name: string, type: string, text: string): Promise<void> {
  await page.locator(target).evaluate(
    (el, file) => {
      const data = new DataTransfer()
      data.items.add(new File([file.text], file.name, { type: file.type }))
      for (const kind of ['dragenter', 'dragover', 'drop']) {
        el.dispatchEvent(new DragEvent(kind, { dataTransfer: data, bubbles: true, cancelable: true }))
      }
    },
    { name, type, text },
  )
}

interface Recorded {
  path: string
  json: { model?: string; messages?: { role: string; content: unknown }[] } | null
}

/** What the fake upstream received (its control plane records every request). */
async function upstreamRequests(request: APIRequestContext): Promise<Recorded[]> {
  const res = await request.get(`${state.upstreamUrl}/__control/requests`)
  expect(res.ok()).toBe(true)
  return (await res.json()) as Recorded[]
}

const generations = (records: Recorded[]) => records.filter((r) => r.path.endsWith('/chat/completions'))

async function newConversation(page: Page, model: string): Promise<string> {
  const res = await apiAs(page, 'POST', '/api/conversations', { title: 'Pancakes, with files', settings: { model } })
  expect(res.ok(), await res.text()).toBe(true)
  return (await res.json()).id as string
}

test('a pasted screenshot and a dropped PDF go with one question, and stay in the chat, a reload, the share link and the exports', async ({
  signedIn: page,
  upstream,
  browser,
  playwright,
}) => {
  test.setTimeout(90_000)
  await upstream.configure({ reply: 'I see a green picture and your **pancake report**.', token_delay: 0 })
  const id = await newConversation(page, 'fake-model-2')
  await page.goto(`/c/${id}`)
  const box = page.getByRole('textbox', { name: 'Message', exact: true })
  await expect(box).toBeVisible()
  await expect(page.getByRole('button', { name: 'Attach files' })).toBeVisible()

  await pasteScreenshot(page, 'screenshot.png')
  await dropFile(page, '.chat-scroll', 'report.pdf', 'application/pdf', minimalPdf())
  const chips = page.locator('.composer-files li')
  await expect(chips).toHaveCount(2)
  await expect(chips.nth(0)).toHaveAttribute('data-status', 'ready')
  await expect(chips.nth(1)).toHaveAttribute('data-status', 'ready')
  await expect(chips.nth(0)).toHaveAttribute('data-kind', 'image')
  await expect(chips.nth(1)).toContainText('report.pdf')
  await expect(chips.nth(1)).toContainText(/\d+ tokens/)
  await expect(page.getByRole('button', { name: 'Remove screenshot.png' })).toBeVisible()
  await box.fill('What is in the picture and the report?')
  await shot(page, '32-composer-files')
  await page.setViewportSize({ width: 360, height: 740 })
  await shot(page, '32-composer-files-360')
  await page.setViewportSize({ width: 1280, height: 800 })

  await page.getByRole('button', { name: 'Send message' }).click()
  const answer = page.locator('article[data-role="assistant"]').last()
  await expect(answer.locator('strong')).toHaveText('pancake report')
  await expect(page.locator('.composer-files li')).toHaveCount(0)

  // The upstream got the image as an image part and the PDF's text, in the one question.
  const sent = generations(await upstreamRequests(page.request))
  expect(sent).toHaveLength(1)
  expect(sent[0].json?.model).toBe('fake-model-2')
  const question = sent[0].json!.messages!.filter((m) => m.role === 'user').pop()!
  expect(Array.isArray(question.content)).toBe(true)
  const parts = question.content as { type: string; text?: string; image_url?: { url: string } }[]
  const image = parts.find((p) => p.type === 'image_url')
  expect(image?.image_url?.url).toMatch(/^data:image\/png;base64,[A-Za-z0-9+/]+=*$/)
  const text = parts
    .filter((p) => p.type === 'text')
    .map((p) => p.text)
    .join('\n')
  expect(text).toContain(PDF_TEXT)
  expect(text).toContain('report.pdf')
  expect(text).toContain('What is in the picture and the report?')

  // The conversation shows both; a reload keeps them.
  const shownFiles = async (where: Page) => {
    const question = where.locator('article[data-role="user"]').last()
    const img = question.locator('.message-image img')
    await expect(img).toHaveAttribute('alt', 'screenshot.png')
    await expect.poll(() => img.evaluate((i) => (i as HTMLImageElement).naturalWidth)).toBeGreaterThan(0)
    await expect(question.locator('.message-document')).toContainText('report.pdf')
  }
  await shownFiles(page)
  await expect(page.getByRole('link', { name: 'Open screenshot.png full size' })).toHaveAttribute('target', '_blank')
  await expect(page.getByRole('link', { name: 'Download report.pdf' })).toHaveAttribute('download', 'report.pdf')
  await page.reload()
  await shownFiles(page)
  await shot(page, '32-conversation')
  // Saved as an image, the thumbnail is drawn in (html-to-image reads it as a data: URL).
  const fetched: string[] = []
  page.on('request', (r) => {
    if (r.url().includes('/api/attachments/')) fetched.push(r.url())
  })
  const png = page.waitForEvent('download')
  await page.getByRole('button', { name: 'Save conversation as image' }).click()
  const saved = await png
  expect(saved.suggestedFilename()).toBe('Pancakes, with files.png')
  await saved.saveAs(resolve(dirname(fileURLToPath(import.meta.url)), '../test-results/screens/32-saved-as-image.png'))
  await expect(page.getByText('Image saved')).toBeVisible()
  expect(fetched.length).toBeGreaterThan(0)
  await page.setViewportSize({ width: 360, height: 740 })
  await shot(page, '32-conversation-360')
  await page.setViewportSize({ width: 1280, height: 800 })
  await page.emulateMedia({ colorScheme: 'dark' })
  await page.evaluate(() =>
    localStorage.setItem(
      'chatgate.prefs',
      JSON.stringify({ ...JSON.parse(localStorage.getItem('chatgate.prefs') ?? '{}'), theme: 'dark' }),
    ),
  )
  await page.reload()
  await shownFiles(page)
  await shot(page, '32-conversation-dark')
  await page.setViewportSize({ width: 360, height: 740 })
  await shot(page, '32-conversation-dark-360')
  await page.setViewportSize({ width: 1280, height: 800 })

  // The Markdown export (the server's) names both files; the HTML export (built here) shows the image inline.
  const exportAs = async (label: string) => {
    const download = page.waitForEvent('download')
    await page.getByRole('button', { name: 'Export conversation' }).click()
    await page.locator('.n-dropdown-option', { hasText: label }).click()
    return readFileSync(await (await download).path(), 'utf8')
  }
  const markdown = await exportAs('Markdown')
  expect(markdown).toContain('screenshot.png')
  expect(markdown).toContain('report.pdf')
  const html = await exportAs('HTML')
  expect(html).toMatch(/<img src="data:image\/png;base64,[A-Za-z0-9+/=]+" alt="screenshot\.png">/)
  expect(html).toContain('report.pdf')

  // The shared view, signed out, shows both through the link.
  const share = await apiAs(page, 'POST', `/api/conversations/${id}/shares`)
  expect(share.ok(), await share.text()).toBe(true)
  const url = (await share.json()).url as string
  const visitorContext = await browser.newContext({ serviceWorkers: 'block', locale: 'en-US' })
  const visitor = await visitorContext.newPage()
  await visitor.goto(url)
  await shownFiles(visitor)
  const src = await visitor.locator('.message-image img').getAttribute('src')
  expect(src).toMatch(/^\/api\/shared\/[^/]+\/attachments\/[^/]+$/)
  await shot(visitor, '32-shared-view')
  await visitor.setViewportSize({ width: 360, height: 740 })
  await shot(visitor, '32-shared-view-360')
  await visitorContext.close()
  void playwright
})

/** A signed-in page in `locale` (the app's language follows the stored preference). */
async function pageIn(browser: import('@playwright/test').Browser, user: TestUser, locale: string): Promise<Page> {
  const context = await browser.newContext({ baseURL: state.url, serviceWorkers: 'block', locale })
  await context.addInitScript((code) => {
    localStorage.setItem(
      'chatgate.prefs',
      JSON.stringify({ theme: 'light', locale: code, sendKey: 'enter', sidebarCollapsed: false }),
    )
  }, locale)
  const page = await context.newPage()
  await signIn(page.request, user)
  await page.goto('/')
  await expect(page.locator('textarea.chat-textarea')).toBeVisible()
  return page
}

for (const locale of ['en-US', 'de-DE'] as const) {
  test(`an image for a model that cannot see is refused before any upstream call, in ${locale}`, async ({
    browser,
    user,
    upstream,
  }) => {
    const s = messages[locale]
    const page = await pageIn(browser, user, locale)
    const id = await newConversation(page, 'fake-model')
    await page.goto(`/c/${id}`)
    await pasteScreenshot(page)
    await expect(page.locator('.composer-files li')).toHaveAttribute('data-status', 'ready')
    await page.locator('textarea.chat-textarea').fill('What is this?')
    await page.getByRole('button', { name: s.chat.send, exact: true }).click()
    const notice = page.locator('.composer-notice')
    await expect(notice).toHaveText(s.attach.noVision.replace('{model}', 'fake-model'))
    await expect(page.locator('article[data-role="user"]')).toHaveCount(0)
    await expect(page.locator('.composer-files li')).toHaveCount(1)
    await shot(page, `32-no-vision-${locale}`)
    await page.setViewportSize({ width: 360, height: 740 })
    await shot(page, `32-no-vision-${locale}-360`)
    await page.setViewportSize({ width: 1280, height: 800 })

    // The server refuses it too (a model list that claims otherwise does not get it through).
    await page.route('**/api/models', async (route) => {
      // Playwright's own client may reuse a keep-alive connection the server has just closed
      // (ECONNRESET, before any byte reaches it); a browser retries that by itself, so do we.
      const res = await route.fetch({ maxRetries: 2 })
      const body = await res.json()
      for (const m of body.models) m.vision = true
      await route.fulfill({ response: res, json: body })
    })
    await page.reload()
    await expect(page.locator('.composer-files li')).toHaveCount(0) // the box starts empty after a reload
    await pasteScreenshot(page)
    await expect(page.locator('.composer-files li')).toHaveAttribute('data-status', 'ready')
    await page.locator('textarea.chat-textarea').fill('What is this?')
    await page.getByRole('button', { name: s.chat.send, exact: true }).click()
    await expect(page.locator('.chat-pending-error')).toContainText(s.errors.model_cannot_see)
    await expect(page.locator('article[data-role="user"]')).toHaveCount(0)
    await expect(page.locator('.composer-files li')).toHaveCount(1) // given back, to remove or send elsewhere
    expect(generations(await upstreamRequests(page.request))).toHaveLength(0)
    await shot(page, `32-server-refused-${locale}`)
    void upstream
    await page.context().close()
  })
}
