/**
 * Signing in with the organisation's account through a real OpenID provider (node-oidc-provider,
 * e2e/oidc-provider.mjs, on loopback): the first sign-in creates the account with the role the
 * provider's groups map to, the second reuses it, a disallowed domain gets the approval page, and a
 * tampered answer gets the refused page.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Browser, Page } from '@playwright/test'
import { freePort, startChatGate, stopProcess, type RunningServer } from './server'
import { expect, shot, state, test } from './fixtures'

const here = dirname(fileURLToPath(import.meta.url))

async function startProvider(redirectUri: string): Promise<{ issuer: string; child: ChildProcess }> {
  const child = spawn(process.execPath, [resolve(here, 'oidc-provider.mjs'), redirectUri], {
    cwd: resolve(here, '..'),
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let errors = ''
  child.stderr?.on('data', (chunk) => {
    errors += String(chunk)
  })
  const issuer = await new Promise<string>((ok, fail) => {
    let out = ''
    child.stdout?.on('data', (chunk) => {
      out += String(chunk)
      const line = out.split('\n')[0]
      if (out.includes('\n')) ok(JSON.parse(line).issuer as string)
    })
    child.on('exit', (code) => fail(new Error(`oidc-provider exited (${code}): ${errors}`)))
  })
  return { issuer, child }
}

let provider: { issuer: string; child: ChildProcess }
let server: RunningServer

test.describe.configure({ mode: 'serial' })

test.beforeAll(async () => {
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  provider = await startProvider(`${url}/api/auth/oidc/school/callback`)
  server = await startChatGate({
    name: 'sso',
    upstreamUrl: state.upstreamUrl,
    port,
    env: {
      CHATGATE_PUBLIC_URL: url,
      CHATGATE_ROLE_QUOTAS: JSON.stringify({ students: { messages_per_day: 20 } }),
      CHATGATE_OIDC_PROVIDERS: JSON.stringify([
        {
          name: 'school',
          display_name: 'Example School',
          issuer: provider.issuer,
          client_id: 'chatgate',
          client_secret: 'oidc-test-client-secret-5f0c2a',
          scopes: ['openid', 'email', 'profile', 'groups'],
          allowed_domains: ['school.example'],
          role_claim: 'groups',
          admin_values: ['chatgate-admins'],
          quota_groups: { students: 'students' },
        },
      ]),
    },
  })
  // An administrator exists already (otherwise the first visit goes to the setup page).
  const added = server.cli(['user', 'add', 'root', '--admin', '--password-stdin'], 'root-password-123\n')
  expect(added.status, added.stderr).toBe(0)
})

test.afterAll(async () => {
  await server?.stop()
  if (provider) await stopProcess(provider.child)
})

async function newPage(browser: Browser, width = 1280, locale = 'en-US') {
  const context = await browser.newContext({
    baseURL: server.url,
    serviceWorkers: 'block',
    locale,
    viewport: { width, height: 800 },
  })
  return { context, page: await context.newPage() }
}

/** On the provider's own login page (node-oidc-provider's development form). */
async function signInAtProvider(page: Page, login: string): Promise<void> {
  await expect(page).toHaveURL(new RegExp(`^${provider.issuer}/interaction/`))
  await page.locator('input[name="login"]').fill(login)
  await page.locator('input[name="password"]').fill('any password')
  await page.locator('button[type="submit"]').click()
}

test('first sign-in creates the account with the mapped role; the second reuses it', async ({ browser }) => {
  const { context, page } = await newPage(browser, 360)
  await page.goto('/login')
  const button = page.getByRole('link', { name: 'Sign in with Example School' })
  await expect(button).toBeVisible()
  expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(360)
  await shot(page, '31-login-360')
  await button.click()
  await signInAtProvider(page, 'alice')
  await expect(page.getByRole('heading', { name: 'How can I help you today?' })).toBeVisible()
  const me = await (await context.request.get('/api/auth/me')).json()
  expect([me.username, me.role]).toEqual(['alice', 'admin'])
  // Nothing of the provider's tokens in the page's storage.
  const stored = await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }))
  expect(stored).not.toMatch(/eyJ|id_token|access_token/)

  // Sign out in ChatGate: the provider's sign-out is offered.
  const out = await context.request.post('/api/auth/logout', { headers: { Origin: server.url } })
  expect(out.status()).toBe(200)
  expect((await out.json()).end_session_url).toContain(`${provider.issuer}/session/end`)

  // The second sign-in (the provider still knows this browser) lands in the same account.
  await page.goto('/login')
  await page.getByRole('link', { name: 'Sign in with Example School' }).click()
  await expect(page.getByRole('heading', { name: 'How can I help you today?' })).toBeVisible()
  const again = await (await context.request.get('/api/auth/me')).json()
  expect(again.id).toBe(me.id)
  await context.close()

  // A student, in another browser: a user with the students' limits.
  const student = await newPage(browser)
  await student.page.goto('/login')
  await student.page.getByRole('link', { name: 'Sign in with Example School' }).click()
  await signInAtProvider(student.page, 'bob')
  await expect(student.page.getByRole('heading', { name: 'How can I help you today?' })).toBeVisible()
  const bob = await (await student.context.request.get('/api/auth/me')).json()
  expect([bob.username, bob.role]).toEqual(['bob', 'user'])
  // Signing out in the app ends ChatGate's session and offers the provider's sign-out.
  await student.page.getByRole('button', { name: 'Settings', exact: true }).click()
  await student.page.getByRole('dialog').getByRole('button', { name: 'Sign out' }).click()
  await expect(student.page.getByRole('heading', { name: 'Sign in to ChatGate' })).toBeVisible()
  const there = student.page.getByRole('link', { name: 'Sign out there too' })
  await expect(there).toBeVisible()
  expect(await there.getAttribute('href')).toContain(`${provider.issuer}/session/end?`)
  expect((await student.context.request.get('/api/auth/me')).status()).toBe(401)
  await student.context.close()
})

test('a disallowed domain gets the approval page', async ({ browser }) => {
  const { context, page } = await newPage(browser, 360)
  await page.goto('/login')
  await page.getByRole('link', { name: 'Sign in with Example School' }).click()
  await signInAtProvider(page, 'eve')
  await expect(page).toHaveURL(/\/signin\/pending$/)
  await expect(page.getByRole('heading', { name: 'Waiting for approval' })).toBeVisible()
  await expect(page.getByTestId('sso-pending')).toContainText('administrator')
  expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(360)
  await shot(page, '31-pending-360')
  expect((await context.request.get('/api/auth/me')).status()).toBe(401)
  await context.close()
})

test('an existing local account is linked once its password is typed', async ({ browser }) => {
  const made = server.cli(['user', 'add', 'carol', '--password-stdin'], 'carol-password-123\n')
  expect(made.status, made.stderr).toBe(0)
  const { context, page } = await newPage(browser, 360)
  await page.goto('/login')
  await page.getByRole('link', { name: 'Sign in with Example School' }).click()
  await signInAtProvider(page, 'carol')
  await expect(page).toHaveURL(/\/signin\/link$/)
  await expect(page.getByRole('heading', { name: 'Link your account' })).toBeVisible()
  await expect(page.getByText('There is a ChatGate account “carol”')).toBeVisible()
  expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(360)
  await shot(page, '31-link-360')
  await page.getByLabel('Password').fill('not-carols-password')
  await page.getByRole('button', { name: 'Link and sign in' }).click()
  await expect(page.getByRole('alert')).toBeVisible()
  await page.getByLabel('Password').fill('carol-password-123')
  await page.getByRole('button', { name: 'Link and sign in' }).click()
  await expect(page.getByRole('heading', { name: 'How can I help you today?' })).toBeVisible()
  expect((await (await context.request.get('/api/auth/me')).json()).username).toBe('carol')
  await context.close()
})

test('a tampered answer gets the refused page, in the chosen language', async ({ browser }) => {
  const { context, page } = await newPage(browser, 360)
  await page.goto('/api/auth/oidc/school/start')
  await expect(page).toHaveURL(new RegExp(`^${provider.issuer}/interaction/`))
  await page.goto('/api/auth/oidc/school/callback?code=forged&state=not-the-state')
  await expect(page).toHaveURL(/\/signin\/refused\?reason=state$/)
  await expect(page.getByRole('heading', { name: 'Sign-in refused' })).toBeVisible()
  await expect(page.getByTestId('sso-refused')).toContainText('did not belong to this browser')
  expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(360)
  await shot(page, '31-refused-360')
  await context.close()

  const german = await newPage(browser, 360, 'de-DE')
  await german.page.goto('/signin/refused?reason=audience')
  await expect(german.page.getByRole('heading', { name: 'Anmeldung abgelehnt' })).toBeVisible()
  await expect(german.page.getByTestId('sso-refused')).toContainText('für eine andere Anwendung bestimmt')
  await german.context.close()
})
