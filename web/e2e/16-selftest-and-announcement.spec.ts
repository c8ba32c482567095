/**
 * The connection self-test tells a clean path ("streaming") from a buffering proxy
 * ("buffered"), and the administrator's announcement banner shows to everyone as plain text.
 */
import type { Page } from '@playwright/test'
import { XSS_PAYLOADS } from '../src/markdown/payloads'
import { ADMIN, apiAs, expect, pageFor, shot, signIn, state, test } from './fixtures'
import { startBufferingProxy } from './server'

async function runSelfTest(page: Page): Promise<void> {
  await page.getByRole('button', { name: 'Run the test' }).click()
  await expect(page.getByRole('button', { name: 'Run again' })).toBeVisible({ timeout: 20_000 })
}

test('the connection self-test reports "streaming" directly and "buffered" behind a buffering proxy', async ({
  page,
}) => {
  await signIn(page.request, ADMIN)
  await page.goto('/admin/selftest')
  await runSelfTest(page)
  const result = page.locator('.selftest-result')
  await expect(result).toHaveAttribute('data-verdict', 'streaming')
  await expect(result).toContainText('Streaming')
  await expect(result).toContainText('20 of 20 events')
  await expect(page.locator('.selftest-fix')).not.toHaveClass(/is-needed/)
  await shot(page, '16-selftest-streaming')

  const proxy = await startBufferingProxy(state.url)
  try {
    // The session cookie belongs to the host, so it is sent through the proxy's port too.
    await page.goto(`${proxy.url}/admin/selftest`)
    await expect(page.getByRole('heading', { name: 'Connection self-test' })).toBeVisible({ timeout: 20_000 })
    await runSelfTest(page)
    await expect(result).toHaveAttribute('data-verdict', 'buffered')
    await expect(result).toContainText('Buffered')
    await expect(result).toContainText('in 1 group')
    const fix = page.locator('.selftest-fix')
    await expect(fix).toHaveClass(/is-needed/)
    await expect(fix).toContainText('proxy_buffering off')
    await expect(fix).toContainText('gzip off')
    await expect(fix).toContainText('flush_interval -1')
    await expect(fix).toContainText('Cloudflare')
    await shot(page, '16-selftest-buffered')
    await page.setViewportSize({ width: 360, height: 740 })
    await page.locator('.selftest-result').scrollIntoViewIfNeeded()
    await shot(page, '16-selftest-buffered-360')
  } finally {
    await proxy.stop()
  }
})

test('the announcement shows to everyone as plain text, runs no script, and can be dismissed for the session', async ({
  page,
  browser,
  user,
}) => {
  const announcement = `Maintenance on Sunday 10:00–11:00.\n${XSS_PAYLOADS.slice(0, 6).join(' ')} [link](javascript:__pwned())`
  await signIn(page.request, ADMIN)
  await page.goto('/admin/settings')
  try {
    await page.getByLabel('Announcement banner').fill(announcement)
    await page.getByRole('button', { name: 'Save' }).click()
    await expect(page.getByText('Settings saved').first()).toBeVisible()
    const banner = page.getByRole('region', { name: 'Announcement' })
    await expect(banner).toContainText('Maintenance on Sunday')

    // A person's page, with a canary for any script the text could smuggle in.
    const other = await pageFor(browser, user)
    await other.addInitScript(() => {
      ;(window as unknown as { __pwned: () => void }).__pwned = () => {
        ;(window as unknown as { __pwnedCalls: number }).__pwnedCalls =
          ((window as unknown as { __pwnedCalls?: number }).__pwnedCalls ?? 0) + 1
      }
    })
    await other.reload()
    const theirs = other.getByRole('region', { name: 'Announcement' })
    await expect(theirs).toBeVisible()
    await expect(theirs.locator('.announcement-text')).toHaveText(announcement)
    expect(await theirs.locator('.announcement-text *').count()).toBe(0)
    await theirs.locator('.announcement-text').hover()
    expect(await other.evaluate(() => (window as unknown as { __pwnedCalls?: number }).__pwnedCalls ?? 0)).toBe(0)
    await shot(other, '16-announcement')
    await other.setViewportSize({ width: 360, height: 740 })
    await shot(other, '16-announcement-360')

    // Dismissed: gone for the rest of this browser session, even after a reload.
    await theirs.getByRole('button', { name: 'Dismiss announcement' }).click()
    await expect(theirs).toHaveCount(0)
    await other.reload()
    await expect(other.getByRole('textbox', { name: 'Message', exact: true })).toBeVisible()
    await expect(other.getByRole('region', { name: 'Announcement' })).toHaveCount(0)
    await other.context().close()

    // The sign-in page shows it too.
    const fresh = await browser.newContext({ baseURL: state.url, serviceWorkers: 'block' })
    const visitor = await fresh.newPage()
    await visitor.goto('/')
    await expect(visitor.getByRole('heading', { name: 'Sign in to ChatGate' })).toBeVisible()
    await expect(visitor.getByRole('region', { name: 'Announcement' })).toContainText('Maintenance on Sunday')
    await fresh.close()
  } finally {
    const res = await apiAs(page, 'PATCH', '/api/admin/settings', { announcement: null })
    expect(res.status()).toBe(200)
  }
})
