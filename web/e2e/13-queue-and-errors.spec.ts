import type { Page } from '@playwright/test'
import { startChatGate } from './server'
import { answers, answerText, expect, send, shot, state, test } from './fixtures'

test('an upstream failure mid-answer keeps the partial text, shows the error inline, and Retry answers again', async ({
  signedIn: page,
  upstream,
}) => {
  await upstream.configure({ reply: 'This answer will break after a few tokens for sure.', token_delay: 0.02 })
  await upstream.scenario('error_mid_stream', { after_tokens: 3 })
  await send(page, 'Break please')
  const answer = answers(page).last()
  const alert = answer.getByRole('alert')
  await expect(alert).toBeVisible({ timeout: 20_000 })
  await expect(alert).toContainText('The model provider returned an error.')
  expect((await answerText(answer)).length).toBeGreaterThan(0)
  await shot(page, '13-error-inline')

  await upstream.scenario('normal')
  await upstream.configure({ reply: 'Recovered answer.', token_delay: 0 })
  await alert.getByRole('button', { name: 'Retry' }).click()
  await expect(answers(page).last().locator('.markdown-body')).toHaveText('Recovered answer.')
  await expect(answers(page).last().locator('.sibling-nav')).toContainText('2 / 2')
})

test('a request refused before streaming shows the reason and keeps the question for a retry', async ({
  signedIn: page,
}) => {
  // A question larger than the server accepts is refused before any stream starts.
  const huge = 'x'.repeat(3_000_000)
  await page.getByRole('textbox', { name: 'Message', exact: true }).fill(huge)
  await page.getByRole('button', { name: 'Send message' }).click()
  const alert = page.locator('.chat-pending-error')
  await expect(alert).toBeVisible({ timeout: 20_000 })
  await expect(alert).not.toHaveText('')
  await expect(page.locator('article[data-role="user"]')).toHaveCount(0)
  await expect(page.getByRole('textbox', { name: 'Message', exact: true })).toHaveValue(huge)
  await shot(page, '13-refused')
})

test('a queued question shows its place in line, then streams', async ({ browser, upstream }) => {
  const server = await startChatGate({ name: 'queue', upstreamUrl: state.upstreamUrl, credential: ['concurrency = 1'] })
  try {
    const slow = 'Slow answer that holds the only slot for a while. '.repeat(4).trim()
    await upstream.configure({ reply: slow, token_delay: 0.12 })
    const users = ['first', 'second'].map((name) => {
      const user = { username: `${name}${Date.now().toString(36)}`, password: 'queue-password-1' }
      const r = server.cli(['user', 'add', user.username, '--password-stdin'], `${user.password}\n`)
      expect(r.status, r.stderr).toBe(0)
      return user
    })
    const pages: Page[] = []
    for (const user of users) {
      const context = await browser.newContext({ baseURL: server.url, serviceWorkers: 'block' })
      const page = await context.newPage()
      await page.request.post('/api/auth/login', { data: user })
      await page.goto('/')
      pages.push(page)
    }
    await send(pages[0], 'I was first')
    await expect.poll(() => answerText(answers(pages[0]).last())).toMatch(/.{5}/)
    await send(pages[1], 'I am second')
    const waiting = answers(pages[1]).last().getByRole('status')
    await expect(waiting).toHaveText(/Waiting in line — position 1/)
    await shot(pages[1], '13-queued')
    await expect(answers(pages[1]).last().locator('.markdown-body')).toHaveText(slow, { timeout: 40_000 })
    for (const page of pages) await page.context().close()
  } finally {
    await server.stop()
  }
})
