/**
 * History in and out: a chatgpt-web export imports through the UI with its report; a
 * conversation exports and is shared by a link that works signed out until it is revoked;
 * XSS payloads in an imported title, imported messages and a shared conversation run nothing.
 */
import { writeFileSync } from 'node:fs'
import type { Page } from '@playwright/test'
import { XSS_PAYLOADS } from '../src/markdown/payloads'
import { answers, expect, send, shot, state, test } from './fixtures'

const XSS_TITLE = '<img src=x onerror=__pwned()> "><script>__pwned()</script>'

function chatgptWebExport(): string {
  const at = (m: number) => `2024/5/1 10:${String(m).padStart(2, '0')}:00`
  return JSON.stringify({
    active: 1001,
    usingContext: true,
    history: [
      { uuid: 1003, title: XSS_TITLE, isEdit: false },
      { uuid: 1002, title: '中文代码问题', isEdit: false },
      { uuid: 1001, title: 'Old English chat', isEdit: false },
      { uuid: 1004, title: 'Lost conversation', isEdit: false },
    ],
    chat: [
      {
        uuid: 1003,
        data: [
          { dateTime: at(10), text: XSS_PAYLOADS.join('\n\n'), inversion: true, error: false },
          { dateTime: at(11), text: XSS_PAYLOADS.join('\n\n'), inversion: false, error: false },
        ],
      },
      {
        uuid: 1002,
        data: [
          {
            dateTime: at(5),
            text: '请用 Python 写一个你好世界',
            inversion: true,
            error: false,
            conversationOptions: null,
            requestOptions: { prompt: 'x', options: null },
          },
          { dateTime: at(6), text: '好的：\n\n```python\nprint("你好，世界")\n```', inversion: false, error: false },
          { dateTime: at(7), text: '', inversion: true, error: false },
          { dateTime: at(8), text: '[ERROR] Request failed with status code 429', inversion: false, error: true },
        ],
      },
      {
        uuid: 1001,
        data: [
          { dateTime: at(1), text: 'Hello there', inversion: true, error: false },
          { dateTime: at(2), text: 'General Kenobi!', inversion: false, error: false },
        ],
      },
    ],
  })
}

async function armCanary(page: Page): Promise<void> {
  await page.addInitScript(() => {
    ;(window as unknown as { __pwned: () => void }).__pwned = () => {
      ;(window as unknown as { __pwnedCalls: number }).__pwnedCalls =
        ((window as unknown as { __pwnedCalls?: number }).__pwnedCalls ?? 0) + 1
    }
  })
}

async function expectInert(page: Page): Promise<void> {
  expect(await page.evaluate(() => (window as unknown as { __pwnedCalls?: number }).__pwnedCalls ?? 0)).toBe(0)
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
    for (const f of document.querySelectorAll('#app iframe, #app object, #app embed, #app form')) out.push(f.tagName)
    return out
  })
  expect(dangerous).toEqual([])
}

test.describe('with the CSP (and the sanitiser) in place', () => {
  // DOMPurify (inside mermaid) parses label HTML in an inert document; Chromium reports the
  // attribute handlers it sees there as blocked, although nothing could ever run.
  test.use({ cspAllowed: [/Executing inline event handler/] })

  test('a chatgpt-web export imports through the UI with its report; payloads in it stay text', async ({
    signedIn: page,
  }, testInfo) => {
    const file = testInfo.outputPath('chatgpt-web-export.json')
    writeFileSync(file, chatgptWebExport())
    await armCanary(page)
    await page.goto('/account')

    const chooser = page.waitForEvent('filechooser')
    await page.getByRole('button', { name: 'Choose a file…' }).click()
    await (await chooser).setFiles(file)
    const report = page.getByRole('status', { name: 'Import report' })
    await expect(report).toContainText('Imported 3 conversations with 7 messages (chatgpt-web).')
    await expect(report.locator('.import-counts')).toHaveText('Without messages: 1')
    const outcomes = report.getByRole('listitem')
    await expect(outcomes.filter({ hasText: '中文代码问题' })).toContainText('Empty messages left out: 1')
    await expect(outcomes.filter({ hasText: 'Lost conversation' })).toContainText('Skipped: no messages')
    await shot(page, '18-import-report')
    await page.setViewportSize({ width: 360, height: 740 })
    await report.scrollIntoViewIfNeeded()
    await shot(page, '18-import-report-360')
    await page.setViewportSize({ width: 1280, height: 800 })

    // The sidebar keeps chatgpt-web's order and shows the hostile title as text.
    await page.getByRole('button', { name: 'Back to chat' }).click()
    const nav = page.getByRole('navigation', { name: 'Conversations' })
    const links = nav.getByRole('link')
    await expect(links.nth(0)).toHaveText(XSS_TITLE)
    await expect(links.nth(1)).toHaveText('中文代码问题')
    await expect(links.nth(2)).toHaveText('Old English chat')

    await links.nth(1).click()
    await expect(page.locator('article[data-role="user"]').first()).toContainText('请用 Python 写一个你好世界')
    await expect(answers(page).first().locator('pre code')).toHaveText('print("你好，世界")\n')
    await expect(answers(page).last()).toHaveAttribute('data-status', 'error')

    await links.nth(0).click()
    await expect(page.getByRole('heading', { name: XSS_TITLE })).toBeVisible()
    await expect(answers(page).last().locator('.markdown-body')).toBeVisible()
    await page.waitForTimeout(1000)
    await expectInert(page)
    await shot(page, '18-imported-xss')
  })

  test('export and share: the link opens signed out, read-only, without the owner; revoked it is not found', async ({
    signedIn: page,
    upstream,
    browser,
    user,
  }) => {
    await upstream.configure({ reply: '**Shared answer** with `code`.', token_delay: 0 })
    await send(page, 'A question worth sharing')
    await expect(answers(page).last().locator('strong')).toHaveText('Shared answer')
    await upstream.configure({ reply: XSS_PAYLOADS.join('\n\n'), token_delay: 0 })
    await send(page, XSS_PAYLOADS.slice(0, 12).join('\n\n'))
    await expect(answers(page)).toHaveCount(2)
    await expect(answers(page).last().locator('.message-toolbar')).toBeVisible({ timeout: 20_000 })

    // Export this conversation as Markdown.
    const download = page.waitForEvent('download')
    await page.getByRole('button', { name: 'Export conversation' }).click()
    await page.locator('.n-dropdown-option', { hasText: 'Markdown' }).click()
    const file = await download
    // Named after the conversation's title, not its id.
    expect(file.suggestedFilename()).toBe('A question worth sharing.md')

    // Share it.
    await page.getByRole('button', { name: 'Share', exact: true }).click()
    const dialog = page.getByRole('dialog')
    await expect(dialog).toContainText('never your username')
    await dialog.getByRole('button', { name: 'Create link' }).click()
    const linkBox = dialog.getByRole('textbox', { name: 'Share link' })
    await expect(linkBox).toHaveValue(new RegExp(`^${state.url}/s/[A-Za-z0-9_-]{20,}$`))
    const url = await linkBox.inputValue()
    await expect(dialog.getByRole('list', { name: 'Links to this conversation' }).getByRole('listitem')).toHaveCount(1)
    await shot(page, '18-share-dialog')
    await page.setViewportSize({ width: 360, height: 740 })
    await shot(page, '18-share-dialog-360')
    await page.setViewportSize({ width: 1280, height: 800 })

    // A visitor with no account opens it.
    const visitorContext = await browser.newContext({ serviceWorkers: 'block', locale: 'en-US' })
    const visitor = await visitorContext.newPage()
    const foreign: string[] = []
    await visitorContext.route(
      (u) => !u.href.startsWith(state.url),
      async (route) => {
        foreign.push(route.request().url())
        await route.abort()
      },
    )
    const consoleErrors: string[] = []
    visitor.on('console', (m) => {
      if (/Content Security Policy|Refused to/i.test(m.text()) && !/Executing inline event handler/.test(m.text()))
        consoleErrors.push(m.text())
    })
    await armCanary(visitor)
    await visitor.goto(url)
    await expect(visitor.getByRole('heading', { name: 'A question worth sharing', level: 1 })).toBeVisible()
    await expect(visitor.getByText('Shared conversation · read-only')).toBeVisible()
    await expect(visitor.locator('article[data-role="assistant"]').first().locator('strong')).toHaveText(
      'Shared answer',
    )
    await expect(visitor.locator('article[data-role="user"]')).toHaveCount(2)
    const shownText = (await visitor.locator('#app').textContent()) ?? ''
    expect(shownText).not.toContain(user.username)
    await expect(visitor.getByRole('textbox', { name: 'Message', exact: true })).toHaveCount(0)
    await expect(visitor.getByRole('navigation', { name: 'Conversations' })).toHaveCount(0)
    for (const a of await visitor.locator('article a').all()) await a.hover({ timeout: 1000 }).catch(() => undefined)
    await visitor.waitForTimeout(500)
    await expectInert(visitor)
    expect(foreign).toEqual([])
    expect(consoleErrors).toEqual([])
    expect((await visitorContext.cookies()).map((c) => c.name)).not.toContain('chatgate_session')
    await shot(visitor, '18-shared-page')
    await visitor.setViewportSize({ width: 360, height: 740 })
    await shot(visitor, '18-shared-page-360')

    // Revoked: the visitor's next load is "not found".
    await dialog.getByRole('button', { name: 'Revoke' }).click()
    await page
      .getByRole('dialog')
      .filter({ hasText: 'stops working at once' })
      .getByRole('button', { name: 'Revoke' })
      .click()
    await expect(dialog.getByText('No links yet.')).toBeVisible()
    await visitor.reload()
    await expect(
      visitor.getByRole('heading', { name: 'This shared conversation does not exist or was removed.' }),
    ).toBeVisible()
    await shot(visitor, '18-shared-not-found')
    await visitorContext.close()
  })
})
