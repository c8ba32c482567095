/**
 * Issue 18, acceptance 1: from an empty data directory, with nothing but a browser — the setup
 * link, the administrator, "Connect an AI service" pointed at an OpenAI-compatible fake upstream on
 * loopback (the key typed in the form), "Find models", "Test" streaming the fake's words, "Save and
 * start chatting" — and the first chat is answered by the fake upstream, never by the bundled demo
 * model. No shell, no restart. Then Admin → Upstreams, reloaded, shows the key only as its hint.
 */
import AxeBuilder from '@axe-core/playwright'
import type { Page } from '@playwright/test'
import { layoutProblems } from './layout'
import {
  freePort,
  logDir,
  python,
  repoRoot,
  startChatGate,
  startProcess,
  stopProcess,
  waitFor,
  type RunningServer,
} from './server'
import { answers, expect, send, shot, test } from './fixtures'
import { perWorker } from './state'

const KEY = 'sk-e2e-typed-in-the-browser-7f3a9c'
const HINT = `${KEY.slice(0, 3)}…${KEY.slice(-4)}`
const TEST_REPLY = 'Hello there, this is the fake upstream speaking to you.'
const CHAT_REPLY = 'Answered by the connected fake upstream, not the demo model.'

interface Recorded {
  method: string
  path: string
  headers: Record<string, string>
  json: { model?: string } | null
}

test('from an empty data directory to the first chat answered by a service connected in the browser', async ({
  browser,
}) => {
  test.setTimeout(120_000)
  // Our own fake upstream: it accepts only the key typed in the form, and offers its own models.
  const port = await freePort()
  const fakeUrl = `http://127.0.0.1:${port}`
  const fakeLog = `${logDir}/${perWorker('upstream-connect')}.log`
  const fake = startProcess(python, ['-m', 'tests.fakes.upstream', '--port', String(port)], {
    cwd: repoRoot,
    env: { ...process.env, PYTHONUNBUFFERED: '1' },
    log: fakeLog,
  })
  const control = async (action: string, body?: unknown): Promise<unknown> => {
    const res = await fetch(
      `${fakeUrl}/__control/${action}`,
      body === undefined ? {} : { method: 'POST', body: JSON.stringify(body) },
    )
    expect(res.ok, `${action}: ${res.status}`).toBe(true)
    return res.json()
  }
  let server: RunningServer | null = null
  try {
    await waitFor(`${fakeUrl}/__control/health`, 30_000, fake, fakeLog)
    await control('config', {
      valid_keys: [KEY],
      models: ['fake-chat-1', 'fake-chat-2'],
      reply: TEST_REPLY,
      token_delay: 0.15,
    })
    // No chatgate.toml, no OPENAI_* variables, a fresh data directory: only the demo model.
    server = await startChatGate({ name: 'connect', upstreamUrl: null })
    const link = /(http:\/\/\S+\/setup\?token=\S+)/.exec(server.output())?.[1]
    expect(link, 'the setup link printed at startup').toBeTruthy()

    const context = await browser.newContext({
      baseURL: server.url,
      serviceWorkers: 'block',
      locale: 'en-US',
      colorScheme: 'light',
      viewport: { width: 1280, height: 800 },
    })
    const page = await context.newPage()
    try {
      await page.goto(new URL(link!).pathname + new URL(link!).search)
      await expect(page.getByRole('heading', { name: 'Create the administrator account' })).toBeVisible()
      await page.getByLabel('Username').fill('owner')
      await page.getByLabel('Password', { exact: true }).fill('owner-password-42')
      await page.getByLabel('Confirm password').fill('owner-password-42')
      await page.getByRole('button', { name: 'Create administrator' }).click()

      // Step 2: connect an AI service.
      await expect(page.getByRole('heading', { name: 'Connect an AI service' })).toBeVisible()
      await expect(page.getByRole('button', { name: 'Keep the offline demo model for now' })).toBeVisible()
      await chooseService(page, 'Any OpenAI-compatible URL')
      await page.getByLabel('Base URL').fill(`${fakeUrl}/v1`)
      await page.getByLabel('API key').fill(KEY)
      await page.getByRole('button', { name: 'Find models' }).click()
      await expect(page.getByText('Models found: 2')).toBeVisible()
      await page.locator('.connect-field', { hasText: 'Models' }).locator('.n-base-selection').click()
      await page.locator('.n-base-select-option', { hasText: 'fake-chat-1' }).click()
      await page.keyboard.press('Escape')
      await shots(page, '30-setup-connect')

      // "Test" streams the fake's words: a part of the answer shows before the whole.
      await page.getByRole('button', { name: 'Test fake-chat-1' }).click()
      const answer = page.locator('[data-test-answer]')
      await page.waitForFunction((full) => {
        const text = document.querySelector('[data-test-answer]')?.textContent ?? ''
        return text.length > 0 && full.startsWith(text) && text !== full
      }, TEST_REPLY)
      await expect(answer).toHaveText(TEST_REPLY)
      await expect(page.getByText('It works.')).toBeVisible()
      await shot(page, '30-setup-test-streamed')

      // The fake saw the key typed in the form (it refuses any other), for the models and the test.
      const seen = (await control('requests')) as Recorded[]
      expect(seen.filter((r) => r.path.endsWith('/models')).map((r) => r.headers.authorization)).toEqual([
        `Bearer ${KEY}`,
      ])
      const tests = seen.filter((r) => r.path.endsWith('/chat/completions'))
      expect(tests.map((r) => [r.headers.authorization, r.json?.model])).toEqual([[`Bearer ${KEY}`, 'fake-chat-1']])

      // Save: straight into the chat, answered by the fake upstream.
      await control('config', { reply: CHAT_REPLY, token_delay: 0 })
      await page.getByRole('button', { name: 'Save and start chatting' }).click()
      await expect(page.getByRole('heading', { name: 'How can I help you today?' })).toBeVisible()
      await expect(page.getByRole('region', { name: 'Demo model' })).toHaveCount(0)
      await send(page, 'Who is answering?')
      await expect(answers(page).last().locator('.markdown-body')).toHaveText(CHAT_REPLY)
      const chats = ((await control('requests')) as Recorded[]).filter((r) => r.path.endsWith('/chat/completions'))
      expect(chats).toHaveLength(2)
      expect(chats[1].json?.model).toBe('fake-chat-1')
      expect(chats[1].headers.authorization).toBe(`Bearer ${KEY}`)
      await shot(page, '30-first-chat')

      // Admin → Upstreams after a reload: the provider and its key's hint, never the key.
      await page.goto('/admin/upstreams')
      await page.reload()
      const card = page.getByRole('article', { name: 'custom' })
      await expect(card).toBeVisible()
      await expect(card.locator('tr[data-credential="default"]')).toContainText(HINT)
      await expect(card.locator('tr[data-model="fake-chat-1"]')).toHaveAttribute('data-enabled', 'true')
      await expect(page.locator('.default-model')).toContainText('fake-chat-1')
      expect(await page.content()).not.toContain(KEY)
      const listed = await page.request.get('/api/admin/upstreams')
      expect(await listed.text()).not.toContain(KEY)
      await shots(page, '30-admin-upstreams')
    } finally {
      await context.close()
    }
  } catch (err) {
    if (server) console.error(`--- server-connect.log ---\n${server.output().slice(-4000)}`)
    throw err
  } finally {
    await server?.stop()
    await stopProcess(fake)
  }
})

/** The service select (naive-ui): open it, pick the option. */
async function chooseService(page: Page, name: string): Promise<void> {
  // The first field (the proxy's hint below mentions "the service" too).
  await page.locator('.connect-field', { hasText: 'Service' }).first().locator('.n-base-selection').click()
  await page.locator('.n-base-select-option', { hasText: name }).click()
}

/** Light and dark, 1280 and 360 px wide; at 360 px every control fits; axe finds nothing serious. */
async function shots(page: Page, name: string): Promise<void> {
  for (const scheme of ['light', 'dark'] as const) {
    await page.emulateMedia({ colorScheme: scheme })
    for (const width of [1280, 360]) {
      await page.setViewportSize({ width, height: width === 360 ? 740 : 800 })
      await page.waitForTimeout(200)
      if (width === 360) expect(await layoutProblems(page), `${name} at 360 px, ${scheme}`).toEqual([])
      else {
        const found = (await new AxeBuilder({ page }).analyze()).violations.filter(
          (v) => v.impact === 'critical' || v.impact === 'serious',
        )
        expect(
          found.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join('; ')}`),
          `${name}, ${scheme}`,
        ).toEqual([])
      }
      await shot(page, `${name}-${scheme}-${width}`)
    }
  }
  await page.emulateMedia({ colorScheme: 'light' })
  await page.setViewportSize({ width: 1280, height: 800 })
}
