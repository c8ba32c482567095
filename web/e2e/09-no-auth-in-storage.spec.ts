import { answers, createUser, expect, send, test } from './fixtures'

test('nothing that authenticates is stored in localStorage or sessionStorage', async ({ page, upstream, context }) => {
  const user = createUser('storage')
  await upstream.configure({ reply: 'Stored answer.', token_delay: 0 })
  await page.goto('/')
  await page.getByLabel('Username').fill(user.username)
  await page.getByLabel('Password').fill(user.password)
  await page.getByRole('button', { name: 'Sign in' }).click()
  await send(page, 'Remember nothing secret')
  await expect(answers(page).last().locator('.markdown-body')).toHaveText('Stored answer.')
  await page.getByRole('button', { name: 'Settings', exact: true }).click()
  await page.getByRole('dialog').getByText('Dark', { exact: true }).click()
  await page.keyboard.press('Escape')

  const cookies = await context.cookies()
  const session = cookies.find((c) => c.name === 'chatgate_session')
  expect(session, 'the session cookie').toBeTruthy()
  expect(session!.httpOnly).toBe(true)
  expect(session!.sameSite).toBe('Lax')
  expect(await page.evaluate(() => document.cookie)).not.toContain('chatgate_session')

  const stored = await page.evaluate(() => {
    const dump = (s: Storage) => Array.from({ length: s.length }, (_, i) => [s.key(i)!, s.getItem(s.key(i)!) ?? ''])
    return { local: dump(localStorage), session: dump(sessionStorage) }
  })
  const everything = JSON.stringify([...stored.local, ...stored.session]).toLowerCase()
  expect(everything).not.toContain(session!.value.toLowerCase())
  expect(everything).not.toContain(user.password.toLowerCase())
  expect(everything).not.toMatch(/token|session|password|cookie|bearer|secret|auth/)
  // sessionStorage holds at most the router's scroll positions.
  for (const [key] of stored.session) expect(key).toBe('vue-router:scroll')
  // Only UI preferences, under known keys.
  for (const [key] of stored.local) expect(['chatgate.prefs', 'chatgate.prompts']).toContain(key)
  expect(JSON.parse(stored.local.find(([k]) => k === 'chatgate.prefs')![1])).toMatchObject({ theme: 'dark' })
})
