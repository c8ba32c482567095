/**
 * chatgpt-web's Export file as it really is (the `{"data": ..., "expire": null}` value of its
 * localStorage, tests/data/chatgpt-web-storage.json, written by a browser in UTC+8) imports with
 * its original dates: the report lists each conversation with its outcome and date, the sidebar
 * puts the chats under "Older" below today's chat, and importing the file again adds nothing
 * (issue 16, acceptance 1). This browser is in New York: the file's own creation times, not the
 * importing browser's zone, say when its messages were written.
 */
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Page } from '@playwright/test'
import { expect, send, shot, test } from './fixtures'

const STORAGE = resolve(dirname(fileURLToPath(import.meta.url)), '../../tests/data/chatgpt-web-storage.json')
const IMPORTED = ['Python 排序', '旅行计划', '第一次对话']

test.use({ timezoneId: 'America/New_York' })

async function importFile(page: Page): Promise<void> {
  await page.goto('/account')
  const chooser = page.waitForEvent('filechooser')
  await page.getByRole('button', { name: 'Choose a file…' }).click()
  await (await chooser).setFiles(STORAGE)
}

test('the wrapped chatgpt-web export keeps its dates, sorts among old chats, and imports once', async ({
  signedIn: page,
  upstream,
}) => {
  await upstream.configure({ reply: 'Fresh answer.', token_delay: 0 })
  await send(page, 'A chat from today')
  await expect(page.locator('article[data-role="assistant"]').last()).toContainText('Fresh answer.')

  await importFile(page)
  const report = page.getByRole('status', { name: 'Import report' })
  await expect(report).toContainText('Imported 3 conversations with 10 messages (chatgpt-web).')
  await expect(report.locator('.import-counts')).toHaveText('Without messages: 1')
  const outcomes = report.getByRole('list', { name: 'Conversations in the file' }).getByRole('listitem')
  await expect(outcomes).toHaveCount(4)
  await expect(outcomes.nth(0)).toContainText('New Chat')
  await expect(outcomes.nth(0)).toContainText('Skipped: no messages')
  // Last active at the last answer, in this browser's calendar (New York: 12 hours behind UTC+8).
  await expect(outcomes.nth(1)).toContainText('Python 排序')
  await expect(outcomes.nth(1)).toContainText('Imported')
  await expect(outcomes.nth(1)).toContainText('Messages: 4 · last active Mar 9, 2023')
  await expect(outcomes.nth(2)).toContainText('last active Feb 19, 2023')
  await expect(outcomes.nth(2)).toContainText('Empty messages left out: 1')
  await expect(outcomes.nth(3)).toContainText('Messages: 2 · last active Feb 15, 2023')
  await shot(page, '28-import-report')
  await page.setViewportSize({ width: 360, height: 740 })
  await report.scrollIntoViewIfNeeded()
  await shot(page, '28-import-report-360')
  await page.setViewportSize({ width: 1280, height: 800 })

  // The sidebar: today's chat under "Today", the imported ones under "Older", newest first.
  await outcomes.nth(1).getByRole('link', { name: 'Python 排序' }).click()
  await expect(page.locator('article[data-role="user"]').first()).toContainText('怎么在 Python 里排序一个列表？')
  const nav = page.getByRole('navigation', { name: 'Conversations' })
  const today = nav.locator('section').filter({ has: page.getByRole('heading', { name: 'Today' }) })
  const older = nav.locator('section').filter({ has: page.getByRole('heading', { name: 'Older' }) })
  await expect(today.getByRole('link')).toHaveText(['A chat from today'])
  await expect(older.getByRole('link')).toHaveText(IMPORTED)
  await expect(nav.getByRole('heading')).toHaveText(['Today', 'Older'])
  await shot(page, '28-sidebar-older')

  // The same file again: nothing new, and the report says why.
  await importFile(page)
  await expect(report).toContainText('Imported 0 conversations with 0 messages (chatgpt-web).')
  await expect(report).toContainText('Nothing new: every conversation in this file is already here.')
  await expect(report.locator('.import-counts li')).toHaveText(['Already imported: 3', 'Without messages: 1'])
  await expect(outcomes.nth(1)).toContainText('Skipped: already imported')
  await shot(page, '28-import-again')
  await page.getByRole('button', { name: 'Back to chat' }).click()
  await expect(nav.getByRole('link')).toHaveText(['A chat from today', ...IMPORTED])
})
