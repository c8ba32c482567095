import { answers, expect, send, shot, test } from './fixtures'

test.use({ viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true })

test('at 360×740 the app is fully usable, with the sidebar as a drawer', async ({ signedIn: page, upstream }) => {
  await upstream.configure({
    reply:
      'A small-screen answer with a long unbreakable word: Donaudampfschifffahrtsgesellschaftskapitän, and a table:\n\n| a | b | c | d | e |\n|---|---|---|---|---|\n| 1 | 2 | 3 | 4 | 5 |\n\n```bash\necho "a long line of code that should scroll sideways instead of widening the page"\n```',
    token_delay: 0,
  })
  // No sidebar on screen, a menu button instead.
  await expect(page.getByRole('navigation', { name: 'Conversations' })).toBeHidden()
  await shot(page, '06-phone-empty')

  await send(page, 'First phone question')
  await expect(answers(page).last().getByRole('table')).toBeVisible()
  const overflow = await page.evaluate(
    () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
  )
  expect(overflow).toBeLessThanOrEqual(0)
  await shot(page, '06-phone-answer')

  // New chat from the header, then the drawer lists both conversations.
  await page.getByRole('button', { name: 'New chat' }).click()
  await expect(page.getByRole('heading', { name: 'How can I help you today?' })).toBeVisible()
  await send(page, 'Second phone question')
  await expect(answers(page).last().locator('.markdown-body')).toContainText('small-screen answer')

  await page.getByRole('button', { name: 'Open sidebar' }).click()
  const drawer = page.getByRole('navigation', { name: 'Conversations' })
  await expect(drawer).toBeVisible()
  await expect(drawer.getByRole('link')).toHaveCount(2)
  await page.waitForTimeout(400) // the slide-in animation
  await shot(page, '06-phone-drawer')
  await drawer.getByRole('link', { name: 'First phone question' }).click()
  await expect(drawer).toBeHidden()
  await expect(page.locator('article[data-role="user"]')).toContainText('First phone question')

  // Settings and the prompt library open and fit; on a phone the header's actions are one menu.
  await page.getByRole('button', { name: 'More actions' }).click()
  await page.locator('.n-dropdown-option').getByText('Chat settings', { exact: true }).click()
  await expect(page.getByText('System prompt (role)')).toBeVisible()
  await page.waitForTimeout(400)
  await shot(page, '06-phone-settings')
})
