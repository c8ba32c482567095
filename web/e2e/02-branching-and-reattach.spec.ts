import { answers, answerText, expect, send, shot, test } from './fixtures'

const STORY =
  'Once upon a time there was a small robot who wanted to learn every language in the world, ' +
  'so it travelled from city to city listening to people talk in markets, trains and cafés until ' +
  'it could greet everyone it met in their own words.'

test('stop, continue, regenerate, edit-and-resend and the sibling arrows', async ({ signedIn: page, upstream }) => {
  await upstream.configure({ reply: STORY, token_delay: 0.12 })
  await send(page, 'Tell me a story')
  const answer = answers(page).last()
  await expect.poll(async () => answerText(answer)).toMatch(/.{20}/)

  // Esc stops the generation: the partial answer stays, marked stopped, and stops growing.
  await page.keyboard.press('Escape')
  await expect(answer.getByText('Stopped')).toBeVisible()
  await expect(page.getByRole('button', { name: 'Send message' })).toBeVisible()
  const stoppedText = (await answer.locator('.markdown-body').textContent()) ?? ''
  expect(stoppedText.length).toBeLessThan(STORY.length)
  await page.waitForTimeout(800)
  await expect(answer.locator('.markdown-body')).toHaveText(stoppedText)
  await shot(page, '02-stopped')

  // Continue writes more into the same answer.
  await upstream.configure({ reply: ' THE END.', token_delay: 0.02 })
  await answer.hover()
  await answer.getByRole('button', { name: 'Continue' }).click()
  await expect(answer.locator('.markdown-body')).toContainText('THE END.')
  await expect(answer.locator('.markdown-body')).toContainText(stoppedText.trim().slice(0, 20))
  await expect(answers(page)).toHaveCount(1)

  // Regenerate adds a sibling answer: 2 / 2, and the arrows move between them.
  await upstream.configure({ reply: 'A second, shorter answer.', token_delay: 0 })
  await answer.hover()
  await answer.getByRole('button', { name: 'Regenerate' }).click()
  await expect(answers(page).last().locator('.markdown-body')).toHaveText('A second, shorter answer.')
  const nav = answers(page).last().locator('.sibling-nav')
  await expect(nav).toContainText('2 / 2')
  await nav.getByRole('button', { name: 'Previous version' }).click()
  await expect(nav).toContainText('1 / 2')
  await expect(answers(page).last()).toContainText('THE END.')
  await shot(page, '02-sibling-1-of-2')

  // The branch shown is stored on the server: opening the conversation again shows it.
  await page.goto('/')
  await page.getByRole('navigation', { name: 'Conversations' }).getByRole('link', { name: 'Tell me a story' }).click()
  await expect(answers(page).last().locator('.sibling-nav')).toContainText('1 / 2')
  await expect(answers(page).last()).toContainText('THE END.')

  // Edit-and-resend makes a sibling question with its own answer.
  await upstream.configure({ reply: 'Why did the robot cross the road?', token_delay: 0 })
  const question = page.locator('article[data-role="user"]').first()
  await question.hover()
  await question.getByRole('button', { name: 'Edit message' }).click()
  await question.getByRole('textbox', { name: 'Edit message' }).fill('Tell me a joke')
  await question.getByRole('button', { name: 'Save & submit' }).click()
  await expect(page.locator('article[data-role="user"]').first()).toContainText('Tell me a joke')
  await expect(answers(page).last().locator('.markdown-body')).toHaveText('Why did the robot cross the road?')
  const questionNav = page.locator('article[data-role="user"]').first().locator('.sibling-nav')
  await expect(questionNav).toContainText('2 / 2')
  await shot(page, '02-edited-question')
  await page.locator('article[data-role="user"]').first().hover()
  await questionNav.getByRole('button', { name: 'Previous version' }).click()
  await expect(page.locator('article[data-role="user"]').first()).toContainText('Tell me a story')
  await expect(answers(page).last()).toContainText('THE END.')
})

test('reloading mid-stream re-attaches and the answer completes exactly once', async ({ signedIn: page, upstream }) => {
  await upstream.configure({ reply: STORY, token_delay: 0.08 })
  await send(page, 'A long story please')
  const answer = answers(page).last()
  await expect.poll(async () => answerText(answer)).toMatch(/.{30}/)
  await expect(page).toHaveURL(/\/c\/[0-9a-f]{32}$/)

  await page.reload()
  const after = answers(page).last()
  await expect(after).toBeVisible()
  // Still streaming after the reload: the text keeps growing…
  await expect.poll(async () => answerText(after)).toMatch(/.{5}/)
  const first = (await answerText(after)).length
  await expect.poll(async () => (await answerText(after)).length).toBeGreaterThan(first)
  await shot(page, '02-reattached')
  // …and ends as the whole answer, with nothing repeated.
  await expect(after.locator('.markdown-body')).toHaveText(STORY, { timeout: 30_000 })
})

test('a second tab opening the conversation mid-stream follows the same answer', async ({
  signedIn: page,
  upstream,
  context,
}) => {
  await upstream.configure({ reply: STORY, token_delay: 0.08 })
  await send(page, 'Story for two tabs')
  await expect.poll(async () => answerText(answers(page).last())).toMatch(/.{10}/)

  const second = await context.newPage()
  await second.goto('/')
  await second
    .getByRole('navigation', { name: 'Conversations' })
    .getByRole('link', { name: 'Story for two tabs' })
    .click()
  const mirrored = answers(second).last()
  await expect(mirrored).toBeVisible()
  await expect(mirrored.locator('.markdown-body')).toHaveText(STORY, { timeout: 30_000 })
  await expect(answers(page).last().locator('.markdown-body')).toHaveText(STORY)
  await shot(second, '02-second-tab')

  // Stop works from any tab.
  await upstream.configure({ reply: STORY, token_delay: 0.15 })
  await send(second, 'Another one')
  await expect.poll(async () => answerText(answers(second).last()), { timeout: 15_000 }).toMatch(/.{3}/)
  await second.getByRole('button', { name: 'Stop generating' }).click()
  await expect(answers(second).last().getByText('Stopped')).toBeVisible()
})
