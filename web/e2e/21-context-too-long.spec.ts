/**
 * Errors that say what happened (issue 14, acceptance 6): a paste too long for the bundled
 * SmolLM2 (a 2048-token window) gets the translated `context_too_long` sentence — start a new
 * chat, shorten the message or send fewer context messages — not "Something went wrong.", and no
 * Retry button that would send the same request into the same wall. In English and in Chinese,
 * live and after a reload (the code is stored with the message).
 *
 * This spec runs its own server with no upstream configured, so the bundled model answers.
 */
import type { Browser } from '@playwright/test'
import en from '../src/locales/en-US'
import zh from '../src/locales/zh-CN'
import { answers, expect, shot, test } from './fixtures'
import { startBundledChatGate, type RunningServer } from './server'

const USER = { username: 'paster', password: 'paste-password-123' }
// About 3000 tokens: more than the bundled model's whole window.
const LONG_PASTE = Array.from(
  { length: 600 },
  (_, i) => `Line ${i + 1}: the quick brown fox jumps over the lazy dog.`,
).join('\n')

let server: RunningServer

test.describe.configure({ mode: 'serial' })

// No chatgate.toml and no OPENAI_* variables: the bundled local model is the only model.
test.beforeAll(async () => {
  server = await startBundledChatGate('bundled', [USER])
})

test.afterAll(async () => {
  await server?.stop()
})

async function pageIn(browser: Browser, locale: string) {
  const context = await browser.newContext({
    baseURL: server.url,
    serviceWorkers: 'block',
    colorScheme: 'light',
    locale,
  })
  const page = await context.newPage()
  const res = await page.request.post('/api/auth/login', { data: USER, headers: { Origin: server.url } })
  expect(res.status(), await res.text()).toBe(200)
  await page.goto('/')
  await expect(page.locator('html')).toHaveAttribute('lang', locale)
  await expect(page.locator('.chat-input textarea')).toBeVisible()
  return page
}

for (const { locale, messages, says } of [
  { locale: 'en-US', messages: en, says: /Start a new chat, shorten your message/ },
  { locale: 'zh-CN', messages: zh, says: /请新建对话、缩短消息/ },
]) {
  test(`a paste too long for the bundled model says what to do, in ${locale}`, async ({ browser }) => {
    const page = await pageIn(browser, locale)
    // The bundled model is the default: the model picker shows it.
    const models = await (await page.request.get('/api/models')).json()
    expect(models.default).toMatch(/smollm2/i)

    await page.locator('.chat-input textarea').fill(LONG_PASTE)
    await page.keyboard.press('Enter')
    const answer = answers(page).last()
    const note = answer.getByRole('alert')
    await expect(note).toHaveText(messages.errors.context_too_long, { timeout: 30_000 })
    await expect(note).toHaveText(says)
    await expect(note).not.toHaveText(messages.errors.unknown)
    // Retrying the same request would fail the same way: no Retry button here.
    await expect(note.getByRole('button')).toHaveCount(0)
    await shot(page, `21-context-too-long-${locale}`)

    // Stored with its code: a reload says the same.
    await page.reload()
    await expect(answers(page).last().getByRole('alert')).toHaveText(messages.errors.context_too_long)
    await page.context().close()
  })
}
