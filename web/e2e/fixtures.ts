/**
 * Shared fixtures: the server's URL as baseURL, a fresh signed-in user per test, the fake
 * upstream's control plane, screenshots into test-results/screens, and the server log attached
 * to every failed test.
 */
import { spawnSync } from 'node:child_process'
import { mkdirSync, readFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { test as base, expect, type APIRequestContext, type Browser, type Locator, type Page } from '@playwright/test'
import { chatgateEnv } from './server'
import { STATE_FILE, WORKER, type E2EState } from './state'

/** This worker's server and upstream (e2e/global-setup.ts). */
export const state: E2EState = (JSON.parse(readFileSync(STATE_FILE, 'utf8')) as E2EState[])[Number(WORKER ?? 0)]
const SCREENS = resolve(dirname(fileURLToPath(import.meta.url)), '../test-results/screens')

export interface Upstream {
  /** The reply text of every following generation, and the pause before each token. */
  configure(options: { reply?: string | string[]; token_delay?: number }): Promise<void>
  scenario(name: string, params?: Record<string, unknown>): Promise<void>
  queue(...names: string[]): Promise<void>
  reset(): Promise<void>
}

export interface TestUser {
  username: string
  password: string
}

let counter = 0

/** Create an account through the CLI (registration is closed on the test server). */
export function createUser(prefix = 'user'): TestUser {
  const user = { username: `${prefix}${Date.now().toString(36)}${++counter}`, password: 'e2e-password-123' }
  const result = spawnSync(state.chatgate, ['user', 'add', user.username, '--password-stdin'], {
    cwd: state.workDir,
    env: chatgateEnv({ CHATGATE_DATA_DIR: state.dataDir }),
    input: `${user.password}\n`,
    encoding: 'utf8',
  })
  if (result.status !== 0) throw new Error(`user add failed: ${result.stdout}${result.stderr}`)
  return user
}

export async function signIn(request: APIRequestContext, user: TestUser): Promise<void> {
  const res = await request.post('/api/auth/login', {
    data: user,
    headers: { Origin: state.url },
  })
  expect(res.status(), await res.text()).toBe(200)
}

export async function shot(page: Page, name: string): Promise<string> {
  mkdirSync(SCREENS, { recursive: true })
  const path = resolve(SCREENS, `${name}.png`)
  await page.screenshot({ path, fullPage: false })
  return path
}

async function control(request: APIRequestContext, action: string, body: unknown): Promise<void> {
  const res = await request.post(`${state.upstreamUrl}/__control/${action}`, { data: body })
  expect(res.ok(), await res.text()).toBe(true)
}

/** The fake upstream's control plane through `request` (the fixture below, or a beforeAll's own). */
export function upstreamVia(request: APIRequestContext): Upstream {
  return {
    configure: (options) => control(request, 'config', options),
    scenario: (name, params = {}) => control(request, 'scenario', { name, ...params }),
    queue: (...names) => control(request, 'queue', { names }),
    reset: () => control(request, 'reset', {}),
  }
}

export const test = base.extend<{
  upstream: Upstream
  user: TestUser
  signedIn: Page
  serverLog: void
  cspClean: void
  /** CSP reports a test expects (console text patterns). */
  cspAllowed: RegExp[]
}>({
  baseURL: async ({}, use) => use(state.url),

  upstream: async ({ playwright }, use) => {
    const request = await playwright.request.newContext()
    const upstream = upstreamVia(request)
    await upstream.reset()
    await upstream.configure({ reply: 'Hello from the fake model.', token_delay: 0 })
    await use(upstream)
    await request.dispose()
  },

  user: async ({}, use) => use(createUser()),

  /** A page whose browser context is signed in as a fresh user, on the new-chat screen. */
  signedIn: async ({ page, user }, use) => {
    await signIn(page.request, user)
    await page.goto('/')
    await expect(page.getByRole('textbox', { name: 'Message', exact: true })).toBeVisible()
    await use(page)
  },

  /** The server's CSP must never have to block anything the app itself does. */
  cspAllowed: [[], { option: true }],

  cspClean: [
    async ({ page, cspAllowed }, use) => {
      const violations: string[] = []
      page.on('console', (m) => {
        const text = m.text()
        if (
          /Content Security Policy|Refused to (load|execute|apply|connect|frame)/i.test(text) &&
          !cspAllowed.some((r) => r.test(text))
        ) {
          violations.push(text)
        }
      })
      await use()
      expect(violations, 'CSP violations').toEqual([])
    },
    { auto: true },
  ],

  serverLog: [
    async ({}, use, testInfo) => {
      let before: number
      try {
        before = readFileSync(state.serverLog, 'utf8').length
      } catch {
        before = 0
      }
      await use()
      if (testInfo.status !== testInfo.expectedStatus) {
        const log = readFileSync(state.serverLog, 'utf8').slice(before)
        await testInfo.attach('server.log', { body: log, contentType: 'text/plain' })
        console.error(`--- server log during "${testInfo.title}" ---\n${log.slice(-4000)}`)
      }
    },
    { auto: true },
  ],
})

export { expect }

/** The assistant answers on screen, newest last. */
export function answers(page: Page) {
  return page.locator('article[data-role="assistant"]')
}

/** The rendered text of an answer so far ('' while it waits for its first token). */
export async function answerText(answer: Locator): Promise<string> {
  const body = answer.locator('.markdown-body')
  return (await body.count()) ? ((await body.textContent()) ?? '') : ''
}

export async function send(page: Page, text: string): Promise<void> {
  const box = page.getByRole('textbox', { name: 'Message', exact: true })
  await box.fill(text)
  await page.getByRole('button', { name: 'Send message' }).click()
}

/** A new browser context (its own cookies) signed in as `user`, on the new-chat screen. */
export async function pageFor(
  browser: Browser,
  user: TestUser,
  options: { viewport?: { width: number; height: number } } = {},
): Promise<Page> {
  const context = await browser.newContext({
    baseURL: state.url,
    serviceWorkers: 'block',
    locale: 'en-US',
    colorScheme: 'light',
    ...options,
  })
  const page = await context.newPage()
  await signIn(page.request, user)
  await page.goto('/')
  await expect(page.getByRole('textbox', { name: 'Message', exact: true })).toBeVisible()
  return page
}

/** Call the API as whoever the page's context is signed in as. */
export async function apiAs(page: Page, method: 'GET' | 'POST' | 'PATCH' | 'DELETE', path: string, data?: unknown) {
  return page.request.fetch(path, { method, data, headers: { Origin: state.url } })
}

export { ADMIN } from './state'
