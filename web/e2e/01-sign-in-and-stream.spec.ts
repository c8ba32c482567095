import { answers, answerText, createUser, expect, shot, test } from './fixtures'

test('a new user signs in, the answer types out token by token, and the sidebar shows the titled conversation', async ({
  page,
  upstream,
}) => {
  const user = createUser('newcomer')
  const reply =
    'Paris is the capital of France. It sits on the Seine, and it has been the capital for centuries, ' +
    'with a population of about two million people in the city itself.'
  await upstream.configure({ reply, token_delay: 0.06 })

  await page.goto('/')
  await expect(page).toHaveURL(/\/login/)
  await expect(page.getByRole('heading', { name: 'Sign in to ChatGate' })).toBeVisible()
  await shot(page, '01-login')
  await page.getByLabel('Username').fill(user.username)
  await page.getByLabel('Password').fill(user.password)
  await page.getByRole('button', { name: 'Sign in' }).click()

  await expect(page.getByRole('heading', { name: 'How can I help you today?' })).toBeVisible()
  await shot(page, '01-empty-chat')
  const box = page.getByRole('textbox', { name: 'Message', exact: true })
  await box.fill('What is the capital of France?')
  await box.press('Enter')

  // The question shows at once, and the answer grows over several observations.
  await expect(page.locator('article[data-role="user"]')).toContainText('What is the capital of France?')
  const answer = answers(page).last()
  const lengths: number[] = []
  for (let i = 0; i < 40 && lengths.filter((n, j) => j > 0 && n > lengths[j - 1]).length < 4; i++) {
    lengths.push((await answerText(answer)).length)
    await page.waitForTimeout(150)
  }
  const growth = lengths.filter((n, i) => i > 0 && n > lengths[i - 1]).length
  expect(growth, `observed lengths ${lengths.join(',')}`).toBeGreaterThanOrEqual(4)
  expect(Math.min(...lengths.filter((n) => n > 0))).toBeLessThan(reply.length)
  await shot(page, '01-streaming')

  await expect(answer.locator('.markdown-body')).toHaveText(reply, { timeout: 20_000 })
  await expect(page.getByRole('button', { name: 'Send message' })).toBeVisible()
  await expect(page).toHaveURL(/\/c\/[0-9a-f]{32}$/)

  const sidebar = page.getByRole('navigation', { name: 'Conversations' })
  const link = sidebar.getByRole('link').first()
  await expect(link).not.toHaveText('')
  await expect(link).not.toHaveText('New chat')
  await expect(link).toHaveAttribute('aria-current', 'page')
  await shot(page, '01-answered')
})
