/**
 * The admin console: an administrator creates an account with a quota, sees its usage after it
 * chats, disables it (its session ends at once), manages invites, and never sees what anyone wrote.
 */
import type { Page } from '@playwright/test'
import { ADMIN, answers, apiAs, expect, pageFor, send, shot, signIn, state, test } from './fixtures'

const SECRET_QUESTION = `The secret question ${Date.now().toString(36)} about sea otters`
const SECRET_ANSWER = 'The confidential otter answer: they hold hands while sleeping.'

async function adminPage(page: Page, tab = ''): Promise<void> {
  await signIn(page.request, ADMIN)
  await page.goto(`/admin${tab ? `/${tab}` : ''}`)
  await expect(page.getByRole('heading', { name: 'Admin console', level: 1 })).toBeVisible()
}

function section(page: Page, name: string) {
  return page.getByRole('navigation', { name: 'Admin console sections' }).getByRole('link', { name, exact: true })
}

async function userAction(page: Page, username: string, action: string): Promise<void> {
  await page.getByRole('button', { name: `Actions: ${username}` }).click()
  await page.locator('.n-dropdown-option', { hasText: action }).click()
}

/** Nothing a person wrote (or got as an answer) is anywhere on an admin page. */
async function expectNoContent(page: Page): Promise<void> {
  const text = (await page.locator('#app').textContent()) ?? ''
  expect(text).not.toContain(SECRET_QUESTION)
  expect(text).not.toContain('confidential otter')
}

test('an admin creates a user with a quota, sees their usage, disables them and their session ends; no admin page shows content', async ({
  page,
  browser,
  upstream,
}) => {
  const username = `quotaed${Date.now().toString(36)}`
  const password = 'quota-password-123'

  // Create the account in the console.
  await adminPage(page)
  await expect(page.getByText('never the content of anyone')).toBeVisible()
  await page.getByRole('button', { name: 'Create user' }).click()
  const create = page.getByRole('dialog')
  await create.getByLabel('Username').fill(username)
  await create.getByLabel('Password').fill(password)
  await create.getByRole('button', { name: 'Create', exact: true }).click()
  await expect(page.getByText(`User ${username} created`)).toBeVisible()
  const row = page.locator(`tr[data-username="${username}"]`)
  await expect(row).toContainText('Active')
  await expect(row).toContainText('Default')

  // Give them a quota: 5 messages a day, unlimited tokens a day, everything else inherited.
  await userAction(page, username, 'Edit quota')
  const quota = page.getByRole('dialog')
  await expect(quota).toContainText(`Quota for ${username}`)
  await quota.getByLabel('Messages per day', { exact: true }).fill('5')
  await quota.getByRole('checkbox', { name: /^Unlimited\W+Tokens per day$/ }).click()
  await shot(page, '15-admin-quota-dialog')
  await quota.getByRole('button', { name: 'Save' }).click()
  await expect(page.getByText('Quota saved')).toBeVisible()
  await expect(row).toContainText('2 custom')
  await expect(page.getByRole('dialog')).toHaveCount(0)
  const users = (await (await apiAs(page, 'GET', '/api/admin/users')).json()) as { username: string; quota: unknown }[]
  expect(users.find((u) => u.username === username)?.quota).toEqual({ messages_per_day: 5, tokens_per_day: null })
  await shot(page, '15-admin-users')

  // They chat.
  await upstream.configure({ reply: SECRET_ANSWER, token_delay: 0 })
  const userPage = await pageFor(browser, { username, password })
  await send(userPage, SECRET_QUESTION)
  await expect(answers(userPage).last().locator('.markdown-body')).toHaveText(SECRET_ANSWER)

  // Their usage shows in the charts.
  await section(page, 'Usage').click()
  await expect(page).toHaveURL(/\/admin\/usage$/)
  await page.getByRole('radio', { name: 'Requests' }).check({ force: true })
  const perUser = page.getByRole('figure', { name: 'Per user' })
  await expect(perUser.locator('.chart-row', { hasText: username })).toContainText('1')
  await expect(page.getByRole('figure', { name: 'Per model' })).toContainText('fake-model')
  await expect(page.getByRole('figure', { name: 'Per day' }).locator('rect.chart-bar').first()).toBeAttached()
  const csv = page.getByRole('link', { name: 'Download CSV' })
  await expect(csv).toHaveAttribute('href', /\/api\/admin\/usage\.csv\?since=\d{4}-\d\d-\d\d&until=\d{4}-\d\d-\d\d/)
  const csvText = await (await page.request.get((await csv.getAttribute('href'))!)).text()
  expect(csvText).toContain(username)
  await page.getByRole('radio', { name: 'Tokens' }).check({ force: true })
  await shot(page, '15-admin-usage')

  // No admin page shows what they wrote.
  for (const tab of ['Users', 'Invites', 'Settings', 'Upstreams', 'Usage', 'Audit log', 'Connection test']) {
    await section(page, tab).click()
    await page.waitForTimeout(300)
    await expectNoContent(page)
  }
  await section(page, 'Audit log').click()
  await expect(page.getByRole('table')).toContainText('user.quota')
  await shot(page, '15-admin-audit')
  // …and no admin API hands out conversations (admin_content_access is off).
  const me = users.find((u) => u.username === username) as unknown as { id: string }
  const content = await apiAs(page, 'GET', `/api/admin/users/${me.id}/conversations`)
  expect(content.status()).toBe(403)

  // Disable them: the console says their sessions end, and they do.
  await section(page, 'Users').click()
  await userAction(page, username, 'Disable')
  await expect(page.getByRole('dialog')).toContainText('signed out on every device')
  await page.getByRole('dialog').getByRole('button', { name: 'Disable' }).click()
  await expect(row).toContainText('Disabled')
  await send(userPage, 'Are you still there?')
  await expect(userPage.getByRole('heading', { name: 'Sign in to ChatGate' })).toBeVisible()
  await userPage.context().close()

  // Enable again for completeness.
  await userAction(page, username, 'Enable')
  await expect(row).toContainText('Active')
})

test('invites: created with a link shown once, listed, revoked', async ({ page }) => {
  // Administrators reach the console from the app's menu.
  await signIn(page.request, ADMIN)
  await page.goto('/')
  await page.getByRole('link', { name: 'Admin console' }).click()
  await expect(page.getByRole('heading', { name: 'Admin console', level: 1 })).toBeVisible()
  await section(page, 'Invites').click()
  await expect(page).toHaveURL(/\/admin\/invites$/)
  await page.getByLabel('Max uses').fill('3')
  await page.getByLabel('Note', { exact: true }).fill('for the e2e team')
  await page.getByRole('button', { name: 'Create invite' }).click()
  const link = page.getByRole('textbox', { name: 'Invite link' })
  await expect(link).toHaveValue(new RegExp(`^${state.url}/register\\?invite=\\S+`))
  await expect(page.getByText('shown only this once')).toBeVisible()
  await expect(page.getByRole('button', { name: 'Copy: Invite link' })).toBeVisible()
  const row = page.locator('tr', { hasText: 'for the e2e team' }).first()
  await expect(row).toContainText('0 / 3')
  await expect(row).toContainText('Active')
  await shot(page, '15-admin-invites')
  await row.getByRole('button', { name: 'Revoke' }).click()
  await page.getByRole('dialog').getByRole('button', { name: 'Revoke' }).click()
  await expect(row).toContainText('Revoked')
  // The link is gone once the page is left.
  await page.reload()
  await expect(page.getByRole('textbox', { name: 'Invite link' })).toHaveCount(0)
})

test("upstreams show each credential's state and refresh by themselves", async ({ page }) => {
  await adminPage(page, 'upstreams')
  const card = page.getByRole('article', { name: 'fake' })
  await expect(card).toContainText('Queue: 0')
  await expect(card).toContainText('From the configuration file')
  await expect(card.locator('tr[data-model]')).toHaveCount(2)
  await expect(card.locator('tr[data-model="fake-model"]')).toHaveAttribute('data-enabled', 'true')
  await expect(card.locator('tr[data-model="fake-model-2"]')).toHaveAttribute('data-enabled', 'true')
  await expect(card.locator('tr[data-credential]')).toContainText('Ready')
  const updated = page.getByText(/updated \d/)
  const first = await updated.textContent()
  await expect.poll(() => updated.textContent(), { timeout: 10_000 }).not.toBe(first)
  expect(await page.locator('#app').textContent()).not.toContain('sk-test')
  await shot(page, '15-admin-upstreams')
})

test('the registration policy changes, and a person waiting for approval is approved', async ({ page, playwright }) => {
  await adminPage(page, 'settings')
  await expect(page.getByRole('radio', { name: /Closed/ })).toBeChecked()
  await page.getByText('With approval', { exact: true }).click()
  await page.getByRole('button', { name: 'Save' }).click()
  await expect(page.getByText('Settings saved').first()).toBeVisible()
  expect((await (await apiAs(page, 'GET', '/api/admin/settings')).json()).registration).toBe('approval')
  await shot(page, '15-admin-settings')

  // Someone signs up and waits; the console lists them first, and Approve lets them in.
  const newcomer = { username: `newcomer${Date.now().toString(36)}`, password: 'newcomer-password-1' }
  const visitor = await playwright.request.newContext({ baseURL: state.url })
  const registered = await visitor.post('/api/auth/register', { data: newcomer, headers: { Origin: state.url } })
  expect(registered.status(), await registered.text()).toBe(202)
  await section(page, 'Users').click()
  const row = page.locator(`tr[data-username="${newcomer.username}"]`)
  await expect(row).toContainText('Waiting for approval')
  await expect(page.getByText('1 waiting')).toBeVisible()
  await row.getByRole('button', { name: 'Approve' }).click()
  await expect(row).toContainText('Active')
  const login = await visitor.post('/api/auth/login', { data: newcomer, headers: { Origin: state.url } })
  expect(login.status()).toBe(200)
  await visitor.dispose()
  await section(page, 'Settings').click()
  await page.getByText('Closed', { exact: true }).click()
  await page.getByRole('button', { name: 'Save' }).click()
  await expect(page.getByText('Settings saved').first()).toBeVisible()
  expect((await (await apiAs(page, 'GET', '/api/admin/settings')).json()).registration).toBe('closed')
})

test('a password reset and "sign out everywhere" end the person\'s sessions, and say so first', async ({
  page,
  browser,
  user,
}) => {
  const theirs = await pageFor(browser, user)
  await adminPage(page)
  await userAction(page, user.username, 'Sign out everywhere')
  await expect(page.getByRole('dialog')).toContainText(`Sign ${user.username} out on every device?`)
  await page.getByRole('dialog').getByRole('button', { name: 'Sign out everywhere' }).click()
  await expect(page.getByText(`${user.username} was signed out everywhere`)).toBeVisible()
  await theirs.getByRole('button', { name: 'New chat' }).first().click()
  await theirs.reload()
  await expect(theirs.getByRole('heading', { name: 'Sign in to ChatGate' })).toBeVisible()

  await userAction(page, user.username, 'Reset password')
  const dialog = page.getByRole('dialog')
  await expect(dialog).toContainText(`This signs ${user.username} out on every device.`)
  await dialog.getByLabel('New password').fill('a-brand-new-password-7')
  await dialog.getByRole('button', { name: 'Reset password' }).click()
  await expect(page.getByText(`${user.username}'s password was reset`)).toBeVisible()
  await theirs.getByLabel('Username').fill(user.username)
  await theirs.getByLabel('Password').fill(user.password)
  await theirs.getByRole('button', { name: 'Sign in' }).click()
  await expect(theirs.getByRole('alert')).toHaveText('Wrong username or password.')
  await theirs.getByLabel('Password').fill('a-brand-new-password-7')
  await theirs.getByRole('button', { name: 'Sign in' }).click()
  await expect(theirs.getByRole('textbox', { name: 'Message', exact: true })).toBeVisible()
  await theirs.context().close()
})

test('the admin console is for administrators only', async ({ signedIn: page }) => {
  await expect(page.getByRole('link', { name: 'Admin console' })).toHaveCount(0)
  await page.goto('/admin/users')
  await expect(page).toHaveURL(`${state.url}/`)
  expect((await apiAs(page, 'GET', '/api/admin/users')).status()).toBe(403)
})

test.describe('at 360 px', () => {
  test.use({ viewport: { width: 360, height: 740 } })
  test('every admin tab is usable on a phone', async ({ page }) => {
    await adminPage(page)
    await page.goto('/admin/users')
    await page.getByRole('button', { name: /^Actions: admin$/ }).click()
    await page.locator('.n-dropdown-option', { hasText: 'Edit quota' }).click()
    await expect(page.getByRole('dialog')).toContainText('Quota for admin')
    await page.waitForTimeout(400)
    await shot(page, '15-admin-quota-dialog-360')
    await page.getByRole('dialog').getByRole('button', { name: 'Cancel' }).click()
    for (const [tab, name] of [
      ['users', 'users'],
      ['invites', 'invites'],
      ['settings', 'settings'],
      ['upstreams', 'upstreams'],
      ['usage', 'usage'],
      ['audit', 'audit'],
      ['selftest', 'selftest'],
    ]) {
      await page.goto(`/admin/${tab}`)
      await expect(page.locator('.admin-section')).toBeVisible()
      await page.waitForTimeout(400)
      const overflow = await page.evaluate(
        () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
      )
      expect(overflow, tab).toBeLessThanOrEqual(0)
      await shot(page, `15-admin-${name}-360`)
    }
  })
})

test.describe('in the dark theme', () => {
  test.use({ colorScheme: 'dark' })
  test('the console and the account page follow the theme', async ({ page }) => {
    await adminPage(page, 'usage')
    await expect(page.locator('html')).toHaveClass(/dark/)
    await expect(page.getByRole('figure', { name: 'Per day' })).toBeVisible()
    const background = await page.evaluate(() => getComputedStyle(document.querySelector('.page')!).backgroundColor)
    expect(background).toBe('rgb(33, 33, 33)')
    await shot(page, '15-admin-usage-dark')
    await page.goto('/admin/users')
    await expect(page.locator('tr[data-username="admin"]')).toBeVisible()
    await shot(page, '15-admin-users-dark')
    await page.goto('/account')
    await expect(page.getByRole('heading', { name: 'API keys' })).toBeVisible()
    await shot(page, '17-account-dark')
  })
})
