import { answers, expect, send, shot, state, test } from './fixtures'

test('per-conversation settings (model, system prompt, temperature) reach the model', async ({
  signedIn: page,
  upstream,
  playwright,
}) => {
  await upstream.configure({ reply: 'Configured answer.', token_delay: 0 })
  await send(page, 'First question')
  await expect(answers(page).last().locator('.markdown-body')).toHaveText('Configured answer.')

  await page.getByRole('button', { name: 'Chat settings' }).click()
  const panel = page.getByRole('dialog')
  await expect(panel.getByText('Server default (fake-model)')).toBeVisible()
  await panel.getByRole('textbox', { name: 'System prompt (role)' }).fill('You are a pirate.')
  await panel.getByRole('switch', { name: 'Temperature: Use default' }).click()
  await panel.getByRole('textbox', { name: 'Context messages' }).fill('4')
  await shot(page, '11-settings')
  await panel.getByRole('button', { name: 'Save' }).click()
  await expect(page.getByText('Settings saved')).toBeVisible()

  await send(page, 'Second question')
  await expect(answers(page).last().locator('.markdown-body')).toHaveText('Configured answer.')

  const control = await playwright.request.newContext()
  const requests = await (await control.get(`${state.upstreamUrl}/__control/requests`)).json()
  await control.dispose()
  const last = requests.filter((r: { path: string }) => r.path.endsWith('/chat/completions')).at(-1)
  const body = last.json
  expect(body.messages[0]).toEqual({ role: 'system', content: 'You are a pirate.' })
  expect(body.temperature).toBeCloseTo(0.7)
  expect(body.messages.at(-1)).toMatchObject({ role: 'user', content: 'Second question' })

  // The settings are stored with the conversation.
  await page.goto('/')
  await page.getByRole('navigation', { name: 'Conversations' }).getByRole('link', { name: 'First question' }).click()
  await expect(answers(page)).toHaveCount(2)
  await page.getByRole('button', { name: 'Chat settings' }).click()
  await expect(page.getByRole('dialog').getByRole('textbox', { name: 'System prompt (role)' })).toHaveValue(
    'You are a pirate.',
  )
})
