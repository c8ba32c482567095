/**
 * What follows the account: a profile (name, description, avatar), the prompt library and the
 * new-chat defaults set in one browser appear in a second browser context signed in as the same
 * person; a library the first browser kept in localStorage moves to the account once; a shared
 * conversation shows the profile, never the username.
 */
import { answers, expect, pageFor, shot, signIn, state, test } from './fixtures'

const AVATAR_PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAABAAAAAQCAIAAACQkWg2AAAAGUlEQVR4nGOUq7jDQApgIkn1qIZRDUNKAwCdygGSx+VThgAAAABJRU5ErkJggg==',
  'base64',
)

test('profile, prompts and new-chat defaults set in one browser appear in another', async ({
  browser,
  upstream,
  user,
  playwright,
}) => {
  await upstream.configure({ reply: 'Ahoy, matey.', token_delay: 0 })

  // Browser A kept a prompt library in localStorage (as before it lived on the server).
  const contextA = await browser.newContext({
    baseURL: state.url,
    serviceWorkers: 'block',
    locale: 'en-US',
    colorScheme: 'light',
  })
  await contextA.addInitScript(() => {
    if (sessionStorage.getItem('seeded')) return
    localStorage.setItem(
      'chatgate.prompts',
      JSON.stringify([{ key: 'Legacy prompt', value: 'Kept in this browser before.' }]),
    )
    sessionStorage.setItem('seeded', '1')
  })
  const a = await contextA.newPage()
  await signIn(a.request, user)
  await a.goto('/')
  await expect(a.getByRole('textbox', { name: 'Message', exact: true })).toBeVisible()
  await expect.poll(() => a.evaluate(() => localStorage.getItem('chatgate.prompts'))).toBeNull()

  // A: the profile.
  await a.goto('/account')
  const profile = a.getByRole('region', { name: 'Profile' })
  await profile.getByRole('textbox', { name: 'Display name' }).fill('Ada Lovelace')
  await profile.getByRole('textbox', { name: 'About you' }).fill('Writes the first programs.')
  await profile.getByRole('button', { name: 'Save' }).click()
  await expect(a.getByText('Profile saved')).toBeVisible()
  await profile.getByTestId('avatar-file').setInputFiles({ name: 'me.png', mimeType: 'image/png', buffer: AVATAR_PNG })
  const avatarA = profile.getByTestId('profile-avatar').locator('img')
  await expect(avatarA).toHaveAttribute('src', /^\/api\/account\/profile\/avatar\?v=\d+$/)
  await expect.poll(() => avatarA.evaluate((img: HTMLImageElement) => img.naturalWidth)).toBe(256)
  await shot(a, '26-profile')

  // A: the new-chat defaults (the settings of a new chat, before its first message).
  await a.goto('/')
  await a.getByRole('button', { name: 'Chat settings' }).click()
  const panel = a.getByRole('dialog')
  await panel.getByRole('textbox', { name: 'System prompt (role)' }).fill('Answer like a pirate.')
  await panel.getByRole('button', { name: 'Save' }).click()
  await expect(a.getByText('Settings saved')).toBeVisible()

  // A: a prompt of its own.
  await a.getByRole('button', { name: 'Prompt library' }).click()
  const library = a.getByRole('dialog').filter({ hasText: 'Prompt library' })
  await expect(library.getByRole('list', { name: 'My prompts' })).toContainText('Legacy prompt')
  await library.getByRole('button', { name: 'New prompt' }).click()
  await library.getByRole('textbox', { name: 'Title' }).fill('Pirate greeting')
  await library.getByRole('textbox', { name: 'Prompt', exact: true }).fill('Say ahoy to:')
  await library.getByRole('button', { name: 'Save' }).click()
  await expect(library.getByRole('list', { name: 'My prompts' })).toContainText('Pirate greeting')
  await a.keyboard.press('Escape')

  // B: another browser, the same person.
  const b = await pageFor(browser, user)
  expect(await b.evaluate(() => localStorage.getItem('chatgate.prompts'))).toBeNull()
  // The sidebar names the person by their profile.
  await expect(b.locator('.sidebar-footer')).toContainText('Ada Lovelace')
  await expect(b.locator('.sidebar-footer img')).toHaveAttribute('src', /^\/api\/account\/profile\/avatar\?v=\d+$/)
  await b.getByRole('button', { name: 'Prompt library' }).click()
  const libraryB = b.getByRole('dialog').filter({ hasText: 'Prompt library' })
  const mine = libraryB.getByRole('list', { name: 'My prompts' }).getByRole('listitem')
  await expect(mine).toHaveCount(2)
  await expect(mine.nth(0)).toContainText('Legacy prompt')
  await expect(mine.nth(1)).toContainText('Pirate greeting')
  await expect(libraryB.getByRole('list', { name: 'Shared with everyone' })).toContainText('Translate')
  await shot(b, '26-library-second-browser')
  await b.keyboard.press('Escape')
  const box = b.getByRole('textbox', { name: 'Message', exact: true })
  await box.fill('/pirate')
  await expect(b.getByRole('listbox', { name: 'Prompt suggestions' }).getByRole('option')).toHaveText([
    /Pirate greeting/,
  ])
  await box.fill('')

  await b.getByRole('button', { name: 'Chat settings' }).click()
  await expect(b.getByRole('dialog').getByRole('textbox', { name: 'System prompt (role)' })).toHaveValue(
    'Answer like a pirate.',
  )
  await b.keyboard.press('Escape')

  // B's new chat uses the defaults, and B's message shows the avatar set in A.
  await box.fill('Who are you?')
  await b.getByRole('button', { name: 'Send message' }).click()
  await expect(answers(b).last().locator('.markdown-body')).toHaveText('Ahoy, matey.')
  const control = await playwright.request.newContext()
  const requests = await (await control.get(`${state.upstreamUrl}/__control/requests`)).json()
  await control.dispose()
  const sent = requests.filter((r: { path: string }) => r.path.endsWith('/chat/completions')).at(-1).json
  expect(sent.messages[0]).toEqual({ role: 'system', content: 'Answer like a pirate.' })
  const myAvatar = b.locator('article[data-role="user"] .message-avatar img')
  await expect(myAvatar).toHaveAttribute('src', /^\/api\/account\/profile\/avatar\?v=\d+$/)
  await expect.poll(() => myAvatar.evaluate((img: HTMLImageElement) => img.naturalWidth)).toBe(256)
  await shot(b, '26-chat-with-avatar')

  await b.goto('/account')
  await expect(b.getByRole('region', { name: 'Profile' }).getByRole('textbox', { name: 'Display name' })).toHaveValue(
    'Ada Lovelace',
  )
  await expect(b.getByRole('region', { name: 'Profile' }).getByRole('textbox', { name: 'About you' })).toHaveValue(
    'Writes the first programs.',
  )
  await expect(b.getByTestId('chat-defaults')).toContainText('System prompt: Answer like a pirate.')

  // A shared conversation shows the profile, never the username.
  const cid = (await (await b.request.get('/api/conversations')).json()).items[0].id
  const share = await (
    await b.request.post(`/api/conversations/${cid}/shares`, { headers: { Origin: state.url } })
  ).json()
  const visitorContext = await browser.newContext({ serviceWorkers: 'block', locale: 'en-US' })
  const visitor = await visitorContext.newPage()
  await visitor.goto(share.url)
  const author = visitor.getByTestId('shared-author')
  await expect(author).toContainText('Shared by Ada Lovelace')
  await expect(author).toContainText('Writes the first programs.')
  await expect.poll(() => author.locator('img').evaluate((img: HTMLImageElement) => img.naturalWidth)).toBe(256)
  await expect(visitor.locator('article[data-role="user"] .message-avatar img')).toHaveCount(1)
  expect((await visitor.locator('#app').textContent()) ?? '').not.toContain(user.username)
  await shot(visitor, '26-shared-with-profile')

  await visitorContext.close()
  await b.context().close()
  await contextA.close()
})
