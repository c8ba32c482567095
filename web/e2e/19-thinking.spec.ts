/**
 * Reasoning, shown (issue 14, acceptance 4): a DeepSeek-style upstream (`reasoning_content`
 * deltas before the answer) streams its reasoning into the Thinking block, which folds when the
 * answer starts and opens on click; the reasoning is stored beside the answer, and the next turn
 * is answered although the fake refuses any history that carries `reasoning_content`.
 */
import type { Browser, Locator, Page } from '@playwright/test'
import { answers, apiAs, expect, send, shot, signIn, state, test, type TestUser, type Upstream } from './fixtures'

const REASONING =
  'The user asks which number is larger. Compare 9.8 and 9.11 digit by digit: both start with 9, ' +
  'then 0.8 against 0.11. Written as 0.80, the first is plainly larger than 0.11, so **9.8** wins. ' +
  'I should say so briefly and show the comparison.'
const REPLY = '**9.8** is larger than 9.11: compare 0.80 with 0.11.'
const plain = (markdown: string) => markdown.replaceAll('**', '')

async function thinkingUpstream(upstream: Upstream, reasoning = REASONING, reply = REPLY): Promise<void> {
  await upstream.configure({ reply, token_delay: 0.06 })
  await upstream.scenario('deepseek_reasoning', { reasoning, token_delay: 0.06 })
}

function parts(answer: Locator) {
  return {
    toggle: answer.locator('.thinking-toggle'),
    body: answer.locator('.thinking-body'),
    text: answer.locator('.message-answer'),
  }
}

/** A page signed in as `user` in a context with its own language, theme and size. */
async function pageIn(
  browser: Browser,
  user: TestUser,
  options: { locale: string; colorScheme?: 'light' | 'dark'; viewport?: { width: number; height: number } },
): Promise<Page> {
  const context = await browser.newContext({
    baseURL: state.url,
    serviceWorkers: 'block',
    colorScheme: 'light',
    ...options,
  })
  const page = await context.newPage()
  await signIn(page.request, user)
  await page.goto('/')
  await expect(page.locator('.chat-input textarea')).toBeVisible()
  return page
}

async function sendIn(page: Page, text: string): Promise<void> {
  await page.locator('.chat-input textarea').fill(text)
  await page.keyboard.press('Enter')
}

test('reasoning streams into the Thinking block, folds when the answer starts, opens on click, and is never sent back', async ({
  signedIn: page,
  upstream,
}) => {
  await thinkingUpstream(upstream)
  await send(page, 'Which is larger, 9.8 or 9.11?')
  const first = answers(page).last()
  const { toggle, body, text } = parts(first)

  // Only reasoning so far: the block is open and streaming, the answer has not started.
  await expect(toggle).toHaveText('Thinking…')
  await expect(toggle).toHaveAttribute('aria-expanded', 'true')
  await expect(body).toContainText('Compare 9.8 and 9.11')
  await expect(first.locator('.thinking')).toHaveClass(/is-live/)
  await expect(first.locator('.thinking [role="status"]')).toHaveText('Thinking…')
  expect(await text.count()).toBe(0)
  await shot(page, '19-thinking-live')

  // The answer starts: the block folds to one line that says how long the model thought.
  await expect(text).toHaveText(plain(REPLY), { timeout: 30_000 })
  await expect(first).toHaveAttribute('data-status', 'complete')
  await expect(toggle).toHaveAttribute('aria-expanded', 'false')
  await expect(toggle).toHaveText(/^Thought for \d+ s$/)
  await expect(body).toHaveCount(0)
  await shot(page, '19-thinking-folded')

  // A click opens it on the whole reasoning; another folds it again.
  await toggle.click()
  await expect(toggle).toHaveAttribute('aria-expanded', 'true')
  await expect(body).toHaveText(plain(REASONING))
  await expect(body.locator('strong')).toHaveText('9.8')
  await shot(page, '19-thinking-open')
  await toggle.click()
  await expect(body).toHaveCount(0)

  // Stored beside the answer, not inside it.
  const conversationId = new URL(page.url()).pathname.split('/').pop()!
  const tree = (await (await apiAs(page, 'GET', `/api/conversations/${conversationId}/messages`)).json()) as {
    messages: { role: string; content: string; reasoning: string }[]
  }
  const stored = tree.messages.find((m) => m.role === 'assistant')!
  expect(stored.reasoning).toBe(REASONING)
  expect(stored.content).toBe(REPLY)

  // The second turn is answered: the fake answers 400 to any history carrying reasoning_content.
  await thinkingUpstream(upstream, 'Same comparison with 9.9: 0.90 beats 0.80.', 'Yes: **9.9** is larger still.')
  await send(page, 'And 9.9?')
  const second = answers(page).nth(1)
  await expect(parts(second).text).toHaveText('Yes: 9.9 is larger still.', { timeout: 30_000 })
  await expect(second).toHaveAttribute('data-status', 'complete')
  await expect(second.getByRole('alert')).toHaveCount(0)
  const requests = (await (await page.request.get(`${state.upstreamUrl}/__control/requests`)).json()) as {
    path: string
    status: number
    json: { messages?: Record<string, unknown>[] }
  }[]
  const last = requests.filter((r) => r.path.endsWith('/chat/completions')).pop()!
  expect(last.status).toBe(200)
  expect(last.json.messages!.map((m) => m.role)).toEqual(['user', 'assistant', 'user'])
  expect(last.json.messages!.some((m) => 'reasoning_content' in m || 'reasoning' in m)).toBe(false)
  expect(JSON.stringify(last.json.messages)).not.toContain('digit by digit')

  // After a reload the stored reasoning is there, folded, as "Thoughts".
  await page.reload()
  const reloaded = parts(answers(page).first())
  await expect(reloaded.toggle).toHaveText('Thoughts')
  await expect(reloaded.toggle).toHaveAttribute('aria-expanded', 'false')
  await reloaded.toggle.click()
  await expect(reloaded.body).toHaveText(plain(REASONING))
  const overflow = await page.evaluate(
    () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
  )
  expect(overflow).toBeLessThanOrEqual(0)
})

test('in 简体中文 the Thinking block speaks Chinese', async ({ browser, upstream, user }) => {
  await thinkingUpstream(
    upstream,
    '用户问哪个数更大。比较 9.8 和 9.11：先看整数部分都是 9，再比较 0.80 与 0.11，所以 **9.8** 更大。回答要简短，并给出比较过程。',
    '**9.8** 更大：0.80 大于 0.11。',
  )
  const page = await pageIn(browser, user, { locale: 'zh-CN' })
  await expect(page.locator('html')).toHaveAttribute('lang', 'zh-CN')
  await sendIn(page, '9.8 和 9.11 哪个大？')
  const answer = answers(page).last()
  const { toggle, body, text } = parts(answer)
  await expect(toggle).toHaveText('思考中…')
  await expect(body).toContainText('比较 9.8 和 9.11')
  await shot(page, '19-thinking-live-zh')
  await expect(text).toHaveText('9.8 更大：0.80 大于 0.11。', { timeout: 30_000 })
  await expect(toggle).toHaveText(/^已思考 \d+ 秒$/)
  await shot(page, '19-thinking-folded-zh')
  await toggle.click()
  await expect(body).toContainText('所以 9.8 更大')
  await shot(page, '19-thinking-open-zh')
  await page.context().close()
})

for (const [name, viewport] of [
  ['1280', { width: 1280, height: 800 }],
  ['360', { width: 360, height: 740 }],
] as const) {
  test(`the Thinking block at ${name} px, light and dark`, async ({ browser, upstream, user }) => {
    for (const colorScheme of ['light', 'dark'] as const) {
      await thinkingUpstream(upstream)
      const page = await pageIn(browser, user, { locale: 'en-US', colorScheme, viewport })
      await sendIn(page, 'Which is larger, 9.8 or 9.11?')
      const answer = answers(page).last()
      const { toggle, body, text } = parts(answer)
      await expect(body).toContainText('digit by digit')
      await shot(page, `19-thinking-live-${name}-${colorScheme}`)
      await expect(text).toHaveText(plain(REPLY), { timeout: 30_000 })
      await toggle.click()
      await expect(body).toHaveText(plain(REASONING))
      const overflow = await page.evaluate(
        () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
      )
      expect(overflow).toBeLessThanOrEqual(0)
      await shot(page, `19-thinking-open-${name}-${colorScheme}`)
      await page.context().close()
    }
  })
}
