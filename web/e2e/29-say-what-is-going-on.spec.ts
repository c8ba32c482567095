/**
 * Say what is going on (issue 16, item 7): while the bundled demo model is the only model, a
 * banner tells everyone the answers will be poor and shows administrators how to connect a real
 * AI service; a tab whose session ended (the account was disabled) says so, and what was being
 * typed is kept for after the next sign-in; opening a chat lands at the end of the last answer
 * once its diagram and math have drawn, without pulling back a reader who scrolled up.
 */
import type { Browser, Page } from '@playwright/test'
import en from '../src/locales/en-US'
import { ADMIN, answers, apiAs, createUser, expect, send, shot, signIn, test, type TestUser } from './fixtures'
import { startBundledChatGate, type RunningServer } from './server'

async function signedInAt(
  browser: Browser,
  server: RunningServer,
  user: TestUser,
  viewport = { width: 1280, height: 800 },
): Promise<Page> {
  const context = await browser.newContext({
    baseURL: server.url,
    serviceWorkers: 'block',
    locale: 'en-US',
    colorScheme: 'light',
    viewport,
  })
  const page = await context.newPage()
  const res = await page.request.post('/api/auth/login', { data: user, headers: { Origin: server.url } })
  expect(res.status(), await res.text()).toBe(200)
  await page.goto('/')
  await expect(page.getByRole('textbox', { name: en.chat.input, exact: true })).toBeVisible()
  return page
}

test.describe('with only the bundled demo model', () => {
  let server: RunningServer
  const user = { username: 'demo-user', password: 'demo-password-123' }
  const admin = { username: 'demo-admin', password: 'demo-password-456' }

  test.beforeAll(async () => {
    server = await startBundledChatGate('demo-banner', [user, { ...admin, admin: true }])
  })
  test.afterAll(async () => server?.stop())

  test('everyone is told it is a tiny offline demo; an administrator is shown how to connect a real service', async ({
    browser,
  }) => {
    const page = await signedInAt(browser, server, user)
    const banner = page.getByRole('region', { name: en.demo.label })
    await expect(banner).toHaveText(en.demo.banner)
    await expect(banner.getByRole('link')).toHaveCount(0)
    await shot(page, '29-demo-model-banner')
    await page.setViewportSize({ width: 360, height: 740 })
    await expect(banner).toBeInViewport()
    await shot(page, '29-demo-model-banner-360')
    await page.context().close()

    const adminPage = await signedInAt(browser, server, admin)
    const adminBanner = adminPage.getByRole('region', { name: en.demo.label })
    await adminBanner.getByRole('link', { name: en.demo.adminLink }).click()
    await expect(adminPage).toHaveURL(/\/admin\/upstreams$/)
    await expect(adminPage.getByRole('note', { name: en.demo.howToTitle })).toContainText('[[providers]]')
    await expect(adminBanner.getByRole('link')).toHaveCount(0)
    await shot(adminPage, '29-demo-model-admin-upstreams')
    await adminPage.context().close()
  })
})

test('no demo banner while a real upstream answers', async ({ signedIn: page }) => {
  await expect(page.getByRole('textbox', { name: en.chat.input, exact: true })).toBeVisible()
  expect((await (await page.request.get('/api/models')).json()).bundled_demo).toBe(false)
  await expect(page.getByRole('region', { name: en.demo.label })).toHaveCount(0)
})

test('a disabled account is told so, and what it was typing is kept', async ({ page, upstream, playwright }) => {
  const user = createUser('draft')
  await upstream.configure({ reply: 'Noted.', token_delay: 0 })
  await signIn(page.request, user)
  await page.goto('/')
  await send(page, 'First question')
  await expect(answers(page).last().locator('.markdown-body')).toHaveText('Noted.')
  // A new chat takes its own address once its first exchange is stored: wait for it.
  await expect(page).toHaveURL(/\/c\/[0-9a-f]+$/)
  const conversationUrl = page.url()
  const me = await (await apiAs(page, 'GET', '/api/auth/me')).json()

  // Typed, not sent: a reload keeps it.
  const box = page.getByRole('textbox', { name: en.chat.input, exact: true })
  const draft = 'A long thought I do not want to lose:\nthree steps, two caveats.'
  await box.fill(draft)
  await page.reload()
  await expect(box).toHaveValue(draft)

  // The administrator disables the account; the tab finds out when it sends.
  const adminRequest = await playwright.request.newContext({ baseURL: page.url().replace(/\/c\/.*$/, '') })
  await signIn(adminRequest, ADMIN)
  const origin = new URL(page.url()).origin
  const disable = await adminRequest.patch(`/api/admin/users/${me.id}`, {
    data: { status: 'disabled' },
    headers: { Origin: origin },
  })
  expect(disable.status(), await disable.text()).toBe(200)
  await page.keyboard.press('Enter')
  // The open tab is told why at once (not just "please sign in"), and that the message is kept.
  await expect(page.getByRole('heading', { name: en.auth.signInTitle })).toBeVisible()
  await expect(page.getByText(en.errors.account_disabled)).toContainText(en.auth.draftKept)
  await expect(page.getByLabel(en.auth.unsentMessage, { exact: true })).toHaveText(draft)

  // Signing in again says why it cannot, and shows the unsent message to copy.
  await page.getByLabel(en.auth.username).fill(user.username)
  await page.getByLabel(en.auth.password).fill(user.password)
  await page.getByRole('button', { name: en.auth.signIn }).click()
  await expect(page.getByRole('alert')).toHaveText(en.errors.account_disabled)
  await expect(page.getByLabel(en.auth.unsentMessage, { exact: true })).toHaveText(draft)
  await shot(page, '29-disabled-account')

  // Enabled again: after the sign-in the message is back in the box of its conversation.
  const enable = await adminRequest.patch(`/api/admin/users/${me.id}`, {
    data: { status: 'active' },
    headers: { Origin: origin },
  })
  expect(enable.status()).toBe(200)
  await adminRequest.dispose()
  await page.getByRole('button', { name: en.auth.signIn }).click()
  await expect(page).toHaveURL(conversationUrl)
  await expect(box).toHaveValue(draft)
})

test('opening a chat lands at the end of the last answer after its diagram and math have drawn, and leaves a reader who scrolled up alone', async ({
  signedIn: page,
  upstream,
}) => {
  const steps = Array.from({ length: 14 }, (_, i) => `  S${i} --> S${i + 1}`).join('\n')
  const reply = [
    ...Array.from({ length: 12 }, (_, i) => `Paragraph ${i + 1}: the batter rests while the pan heats.`),
    '',
    '```mermaid',
    'graph TD',
    steps,
    '```',
    '',
    '$$\\sum_{k=1}^{n} k = \\frac{n(n+1)}{2}$$',
    '',
    'THE END of the answer.',
  ].join('\n')
  await upstream.configure({ reply, token_delay: 0 })
  await send(page, 'A long answer with a diagram')
  await expect(answers(page).last().locator('.mermaid-view svg')).toBeVisible()

  // Reopened: the diagram is drawn again (lazily) after the first scroll.
  await page.reload()
  const scroller = page.locator('.chat-scroll')
  await expect(answers(page).last().locator('.mermaid-view svg')).toBeVisible()
  await expect(answers(page).last().locator('.katex-display')).toBeVisible()
  const gap = () => scroller.evaluate((el) => el.scrollHeight - el.scrollTop - el.clientHeight)
  await expect.poll(gap).toBeLessThan(4)
  await expect(page.getByText('THE END of the answer.')).toBeInViewport()

  // A reader who scrolled up stays where they are when the answer grows.
  await scroller.hover()
  await page.mouse.wheel(0, -600)
  await expect.poll(gap).toBeGreaterThan(300)
  const top = await scroller.evaluate((el) => el.scrollTop)
  await page.locator('.chat-thread').evaluate((thread) => {
    const tall = document.createElement('div')
    tall.style.height = '500px'
    thread.append(tall)
  })
  await page.waitForTimeout(300)
  expect(await scroller.evaluate((el) => el.scrollTop)).toBe(top)
})

test("a refused password says the server's rule, in the reader's language", async ({ signedIn: page, user }) => {
  const ru = (await import('../src/locales/ru-RU')).default
  await page.evaluate(() =>
    localStorage.setItem(
      'chatgate.prefs',
      JSON.stringify({ theme: 'light', locale: 'ru-RU', sendKey: 'enter', sidebarCollapsed: false }),
    ),
  )
  await page.goto('/account')
  const form = page.getByRole('group', { name: ru.auth.changePassword })
  await form.getByLabel(ru.auth.currentPassword).fill(user.password)
  await form.getByLabel(ru.auth.newPassword, { exact: true }).fill('short')
  await form.getByLabel(ru.auth.confirmPassword).fill('short')
  await form.getByRole('button', { name: ru.auth.changePassword }).click()
  // The server says "Use at least 8 characters."; the reader reads it in Russian, not "too weak".
  await expect(page.getByText(ru.passwordRules.minLength.replace('{n}', '8'))).toBeVisible()
  await expect(page.getByText(ru.errors.weak_password)).toHaveCount(0)
})
