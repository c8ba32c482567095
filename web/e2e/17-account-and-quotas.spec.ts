/**
 * The account page (what I have left, API keys) and quota errors shown in the chat, with the
 * reason and the reset time, in the reader's language.
 */
import { ADMIN, answers, expect, send, shot, signIn, state, test } from './fixtures'
import type { APIRequestContext, Page } from '@playwright/test'

async function setQuota(admin: APIRequestContext, username: string, quota: Record<string, unknown>): Promise<void> {
  const users = (await (await admin.get('/api/admin/users')).json()) as { id: string; username: string }[]
  const id = users.find((u) => u.username === username)!.id
  const res = await admin.patch(`/api/admin/users/${id}`, { data: { quota }, headers: { Origin: state.url } })
  expect(res.status(), await res.text()).toBe(200)
}

async function adminRequest(playwright: {
  request: { newContext: (o: object) => Promise<APIRequestContext> }
}): Promise<APIRequestContext> {
  const admin = await playwright.request.newContext({ baseURL: state.url })
  await signIn(admin, ADMIN)
  return admin
}

function pendingError(page: Page) {
  return page.locator('.chat-pending-error')
}

test('a person over a quota sees which limit, and when it resets, in their language', async ({
  signedIn: page,
  user,
  upstream,
  playwright,
}) => {
  const admin = await adminRequest(playwright)
  try {
    await setQuota(admin, user.username, { messages_per_day: 1 })
    await upstream.configure({ reply: 'First and only answer today.', token_delay: 0 })
    await send(page, 'My one question for today')
    await expect(answers(page).last().locator('.markdown-body')).toHaveText('First and only answer today.')

    await send(page, 'One more, please?')
    const alert = pendingError(page)
    await expect(alert).toContainText('You have reached your limit: Messages per day, 1.')
    await expect(alert).toContainText(/It resets at .+ \(in \d+ (hours?|minutes?)\)\./)
    await expect(answers(page)).toHaveCount(1)
    await expect(page.getByRole('textbox', { name: 'Message', exact: true })).toHaveValue('One more, please?')
    await shot(page, '17-quota-exceeded')

    // The same in Chinese.
    await page.getByRole('button', { name: 'Settings', exact: true }).click()
    await page.getByRole('dialog').getByLabel('Language').selectOption({ label: '简体中文' })
    await page.keyboard.press('Escape')
    await expect(alert).toContainText('你已达到额度上限：每日消息数，1。')
    await expect(alert).toContainText(/将于 .+（\d+ ?(小时|分钟)后）重置。/)
    await shot(page, '17-quota-exceeded-zh')

    // What I have left, on the account page (linked from the error).
    await alert.getByRole('link', { name: '我的剩余额度' }).click()
    const row = page.locator('[data-quota="messages_per_day"]')
    await expect(row).toContainText('每日消息数')
    await expect(row).toContainText('已用 1 / 1')
    await expect(row).toContainText('剩余 0')
    await expect(row).toContainText(/将于 .+重置/)
    await page.evaluate(() => localStorage.clear())
    await page.reload()
    await expect(page.locator('[data-quota="messages_per_day"]')).toContainText('1 of 1 used')
    await expect(page.locator('[data-quota="messages_per_day"]')).toContainText('0 left')
    await shot(page, '17-account')
    await page.setViewportSize({ width: 360, height: 740 })
    await shot(page, '17-account-360')
    await page.setViewportSize({ width: 1280, height: 800 })

    // A message too long for the person's limit, and a model they may not use.
    await setQuota(admin, user.username, { max_input_tokens: 1 })
    await page.goto('/')
    await send(page, 'This question is certainly longer than a single token.')
    await expect(pendingError(page)).toContainText(
      /This message with its context is longer than the 1 tokens? you may send/,
    )
    await shot(page, '17-input-too-long')

    await setQuota(admin, user.username, { allowed_models: ['fake-model-2'] })
    await page.goto('/')
    await send(page, 'Which model answers?')
    await expect(pendingError(page)).toContainText('You are not allowed to use this model.')
  } finally {
    await setQuota(admin, user.username, {})
    await admin.dispose()
  }
})

test('an API key is shown once with a Python example, works with /v1, and stops working when revoked', async ({
  signedIn: page,
  context,
}) => {
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: state.url })
  await page.getByRole('link', { name: 'Account' }).click()
  await expect(page.getByRole('heading', { name: 'Account', level: 1 })).toBeVisible()
  await expect(page.getByText('No API keys yet.')).toBeVisible()

  await page.getByLabel('Key name').fill('my laptop')
  await page.getByRole('button', { name: 'Create key' }).click()
  const keyBox = page.getByRole('textbox', { name: 'Your new API key' })
  await expect(keyBox).toHaveValue(/^cg-\S{20,}$/)
  const key = await keyBox.inputValue()
  await expect(page.getByText('it is shown only this once')).toBeVisible()
  const snippet = page.getByLabel('Python example', { exact: true })
  await expect(snippet).toContainText(`api_key="${key}"`)
  await expect(snippet).toContainText(`base_url="${state.url}/v1"`)
  await expect(snippet).toContainText('from openai import OpenAI')
  await page.getByRole('button', { name: 'Copy: Your new API key' }).click()
  await expect(page.getByRole('button', { name: 'Copy: Your new API key' })).toContainText('Copied')
  expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(key)
  await shot(page, '17-api-key-created')

  // The key works.
  const ok = await page.request.get('/v1/models', { headers: { Authorization: `Bearer ${key}` } })
  expect(ok.status()).toBe(200)

  // Shown once: after a reload only its start is listed.
  await page.reload()
  await expect(page.getByRole('textbox', { name: 'Your new API key' })).toHaveCount(0)
  const list = page.getByRole('list', { name: 'API keys' })
  await expect(list).toContainText('my laptop')
  await expect(list).not.toContainText(key)
  await expect(list).toContainText(key.slice(0, 6))

  await list.getByRole('button', { name: 'Revoke: my laptop' }).click()
  await expect(page.getByRole('dialog')).toContainText('stop working at once')
  await page.getByRole('dialog').getByRole('button', { name: 'Revoke' }).click()
  await expect(list).toContainText('Revoked')
  const refused = await page.request.get('/v1/models', { headers: { Authorization: `Bearer ${key}` } })
  expect(refused.status()).toBe(401)
  await shot(page, '17-api-key-revoked')
})
