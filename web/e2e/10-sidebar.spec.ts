import { expect, shot, state, test } from './fixtures'

test('the sidebar searches titles, renames, deletes, and loads older conversations as it scrolls', async ({
  signedIn: page,
}) => {
  // 45 conversations made through the API, oldest first (so "Topic 44" is the newest).
  for (let i = 0; i < 45; i++) {
    const res = await page.request.post('/api/conversations', {
      data: { title: `Topic ${String(i).padStart(2, '0')}` },
      headers: { Origin: state.url },
    })
    expect(res.status()).toBe(201)
  }
  await page.reload()
  const nav = page.getByRole('navigation', { name: 'Conversations' })
  await expect(nav.getByRole('link').first()).toHaveText('Topic 44')
  const firstPage = await nav.getByRole('link').count()
  expect(firstPage).toBeLessThan(45)

  // Scrolling to the end loads the rest, newest first, without duplicates.
  await nav.getByRole('link').last().scrollIntoViewIfNeeded()
  await expect(nav.getByRole('link')).toHaveCount(45)
  await expect(nav.getByRole('link').last()).toHaveText('Topic 00')

  // Title search.
  await page.getByRole('searchbox', { name: 'Search chats' }).fill('topic 1')
  await expect(nav.getByRole('link')).toHaveCount(10)
  await expect(nav.getByRole('link').first()).toHaveText('Topic 19')
  await page.getByRole('searchbox', { name: 'Search chats' }).fill('nothing like this')
  await expect(nav.getByText('No chat title matches')).toBeVisible()
  await page.getByRole('searchbox', { name: 'Search chats' }).fill('')
  await expect(nav.getByRole('link').first()).toHaveText('Topic 44')

  // Rename.
  await nav.getByRole('button', { name: 'Conversation actions: Topic 44' }).click()
  await page.getByText('Rename', { exact: true }).click()
  const input = nav.getByRole('textbox', { name: 'New title' })
  await input.fill('Renamed topic')
  await input.press('Enter')
  await expect(nav.getByRole('link', { name: 'Renamed topic' })).toBeVisible()
  await shot(page, '10-sidebar')

  // Delete (with confirmation).
  await nav.getByRole('button', { name: 'Conversation actions: Renamed topic' }).click()
  await page.getByText('Delete', { exact: true }).click()
  await page.getByRole('dialog').getByRole('button', { name: 'Delete' }).click()
  await expect(nav.getByRole('link', { name: 'Renamed topic' })).toHaveCount(0)
  await page.reload()
  await expect(nav.getByRole('link').first()).toHaveText('Topic 43')
})
