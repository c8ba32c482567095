import type { Browser } from '@playwright/test'
import { startChatGate, type RunningServer } from './server'
import { expect, shot, state, test } from './fixtures'

/** Each test here runs its own server in another sign-in mode (the shared one is accounts/closed). */
async function withServer(
  name: string,
  env: Record<string, string>,
  fn: (server: RunningServer) => Promise<void>,
): Promise<void> {
  const server = await startChatGate({ name, upstreamUrl: state.upstreamUrl, env })
  try {
    await fn(server)
  } catch (err) {
    console.error(`--- server-${name}.log ---\n${server.output().slice(-4000)}`)
    throw err
  } finally {
    await server.stop()
  }
}

async function newPage(browser: Browser, url: string) {
  const context = await browser.newContext({ baseURL: url, serviceWorkers: 'block', locale: 'en-US' })
  return { context, page: await context.newPage() }
}

test('first start: the one-time setup link creates the administrator', async ({ browser }) => {
  await withServer('setup', {}, async (server) => {
    const link = /(http:\/\/\S+\/setup\?token=\S+)/.exec(server.output())?.[1]
    expect(link, 'the setup link printed at startup').toBeTruthy()
    const { context, page } = await newPage(browser, server.url)
    await page.goto(new URL(link!).pathname + new URL(link!).search)
    await expect(page.getByRole('heading', { name: 'Create the administrator account' })).toBeVisible()
    await expect(page).toHaveURL(/\/setup$/) // the token left the address bar
    await page.getByLabel('Username').fill('boss')
    await page.getByLabel('Password', { exact: true }).fill('a-strong-password-1')
    await page.getByLabel('Confirm password').fill('a-strong-password-1')
    await shot(page, '12-setup')
    await page.getByRole('button', { name: 'Create administrator' }).click()
    // The second step offers to connect an AI service; keeping the demo model goes to the chat.
    await expect(page.getByRole('heading', { name: 'Connect an AI service' })).toBeVisible()
    await expect(page).toHaveURL(/\/setup\?step=connect$/)
    await page.getByRole('button', { name: 'Keep the offline demo model for now' }).click()
    await expect(page.getByRole('heading', { name: 'How can I help you today?' })).toBeVisible()
    // The link works once.
    const again = await context.request.post('/api/auth/setup', {
      data: { token: new URL(link!).searchParams.get('token'), username: 'x', password: 'another-password-1' },
      headers: { Origin: server.url },
    })
    expect(again.status()).toBe(410)
    await context.close()
  })
})

test('open registration: a visitor creates an account and lands in the chat', async ({ browser }) => {
  await withServer('register', { CHATGATE_REGISTRATION: 'open' }, async (server) => {
    server.cli(['user', 'add', 'admin', '--admin', '--password-stdin'], 'admin-password-123\n')
    const { context, page } = await newPage(browser, server.url)
    await page.goto('/')
    await page.getByRole('link', { name: 'Create one' }).click()
    await expect(page.getByRole('heading', { name: 'Create your account' })).toBeVisible()
    await expect(page.getByLabel('Invite code')).toHaveCount(0)
    await page.getByLabel('Username').fill('newbie')
    await page.getByLabel('Password', { exact: true }).fill('newbie-password-1')
    await page.getByLabel('Confirm password').fill('something-else-1')
    await page.getByRole('button', { name: 'Create account' }).click()
    await expect(page.getByText('The passwords do not match.')).toBeVisible()
    await page.getByLabel('Confirm password').fill('newbie-password-1')
    await page.getByRole('button', { name: 'Create account' }).click()
    await expect(page.getByRole('heading', { name: 'How can I help you today?' })).toBeVisible()
    // Sign out and back in.
    await page.getByRole('button', { name: 'Settings', exact: true }).click()
    await page.getByRole('dialog').getByRole('button', { name: 'Sign out' }).click()
    await expect(page.getByRole('heading', { name: 'Sign in to ChatGate' })).toBeVisible()
    await page.getByLabel('Username').fill('newbie')
    await page.getByLabel('Password').fill('wrong-password-1')
    await page.getByRole('button', { name: 'Sign in' }).click()
    await expect(page.getByRole('alert')).toHaveText('Wrong username or password.')
    await page.getByLabel('Password').fill('newbie-password-1')
    await page.getByRole('button', { name: 'Sign in' }).click()
    await expect(page.getByRole('heading', { name: 'How can I help you today?' })).toBeVisible()
    await context.close()
  })
})

test('approval and invite registration tell the visitor what happens next', async ({ browser }) => {
  await withServer('approval', { CHATGATE_REGISTRATION: 'approval' }, async (server) => {
    server.cli(['user', 'add', 'admin', '--admin', '--password-stdin'], 'admin-password-123\n')
    const { context, page } = await newPage(browser, server.url)
    await page.goto('/')
    await page.getByRole('link', { name: 'Create one' }).click()
    // The sign-in form has a Username field too: wait for the registration form first.
    await expect(page.getByRole('heading', { name: 'Create your account' })).toBeVisible()
    await page.getByLabel('Username').fill('waiting')
    await page.getByLabel('Password', { exact: true }).fill('waiting-password-1')
    await page.getByLabel('Confirm password').fill('waiting-password-1')
    await page.getByRole('button', { name: 'Create account' }).click()
    await expect(page.getByRole('heading', { name: 'Waiting for approval' })).toBeVisible()
    await expect(page.getByText('An administrator must approve it')).toBeVisible()
    await shot(page, '12-pending')
    await context.close()
  })
  await withServer('invite', { CHATGATE_REGISTRATION: 'invite' }, async (server) => {
    server.cli(['user', 'add', 'admin', '--admin', '--password-stdin'], 'admin-password-123\n')
    const { context, page } = await newPage(browser, server.url)
    await page.goto('/')
    await page.getByRole('link', { name: 'Create one' }).click()
    // The sign-in form has a Username field too: wait for the registration form first.
    await expect(page.getByRole('heading', { name: 'Create your account' })).toBeVisible()
    await page.getByLabel('Username').fill('invited')
    await page.getByLabel('Password', { exact: true }).fill('invited-password-1')
    await page.getByLabel('Confirm password').fill('invited-password-1')
    await page.getByLabel('Invite code').fill('not-a-real-code')
    await page.getByRole('button', { name: 'Create account' }).click()
    await expect(page.getByRole('alert')).toHaveText('This invite code is not valid.')
    await context.close()
  })
})

test('shared-password mode: the access password gives each browser its own history', async ({ browser }) => {
  await withServer(
    'password',
    { CHATGATE_AUTH_MODE: 'password', CHATGATE_ACCESS_PASSWORD: 'team-secret-42' },
    async (server) => {
      const first = await newPage(browser, server.url)
      await first.page.goto('/')
      await expect(first.page.getByRole('heading', { name: 'Enter the access password' })).toBeVisible()
      await expect(first.page.getByLabel('Username')).toHaveCount(0)
      await first.page.getByLabel('Password').fill('wrong')
      await first.page.getByRole('button', { name: 'Sign in' }).click()
      await expect(first.page.getByRole('alert')).toHaveText('Wrong access password.')
      await shot(first.page, '12-shared-password')
      await first.page.getByLabel('Password').fill('team-secret-42')
      await first.page.getByRole('button', { name: 'Sign in' }).click()
      await expect(first.page.getByRole('heading', { name: 'How can I help you today?' })).toBeVisible()
      const res = await first.context.request.post('/api/conversations', {
        data: { title: 'Mine only' },
        headers: { Origin: server.url },
      })
      expect(res.status()).toBe(201)

      const second = await newPage(browser, server.url)
      await second.page.goto('/')
      await second.page.getByLabel('Password').fill('team-secret-42')
      await second.page.getByRole('button', { name: 'Sign in' }).click()
      await expect(second.page.getByRole('heading', { name: 'How can I help you today?' })).toBeVisible()
      await expect(second.page.getByText('No conversations yet')).toBeVisible()
      await first.context.close()
      await second.context.close()
    },
  )
})

test('open mode: no sign-in form at all', async ({ browser }) => {
  await withServer('open', { CHATGATE_AUTH_MODE: 'open' }, async (server) => {
    const { context, page } = await newPage(browser, server.url)
    await page.goto('/')
    await expect(page.getByRole('heading', { name: 'How can I help you today?' })).toBeVisible()
    await expect(page.getByRole('textbox', { name: 'Message', exact: true })).toBeVisible()
    await context.close()
  })
})
