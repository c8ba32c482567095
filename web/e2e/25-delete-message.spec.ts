/**
 * Deleting one message: the confirmation says what goes (an answer; a question with its
 * answers), exactly that goes, the branch on screen moves to what is left, and a reload shows
 * the same.
 */
import { answers, apiAs, expect, send, shot, test } from './fixtures'
import type { Page } from '@playwright/test'

function questions(page: Page) {
  return page.locator('article[data-role="user"]')
}

async function deleteVia(page: Page, article: ReturnType<Page['locator']>, expected: string): Promise<void> {
  await article.hover()
  await article.getByRole('button', { name: 'Delete message' }).click()
  const dialog = page.getByRole('dialog').filter({ hasText: 'Delete message' })
  await expect(dialog).toContainText(expected)
  await expect(dialog).toContainText('This cannot be undone.')
  await dialog.getByRole('button', { name: 'Delete', exact: true }).click()
  await expect(page.getByText('Message deleted')).toBeVisible()
}

test('delete an answer, then a question with its answers; a reload shows the same', async ({
  signedIn: page,
  upstream,
}) => {
  await upstream.configure({ reply: 'First answer.', token_delay: 0 })
  await send(page, 'First question')
  await expect(answers(page).last().locator('.markdown-body')).toHaveText('First answer.')
  await upstream.configure({ reply: 'Second answer.' })
  await send(page, 'Second question')
  await expect(answers(page).last().locator('.markdown-body')).toHaveText('Second answer.')
  await upstream.configure({ reply: 'Second answer, again.' })
  await answers(page).last().hover()
  await answers(page).last().getByRole('button', { name: 'Regenerate' }).click()
  await expect(answers(page).last().locator('.markdown-body')).toHaveText('Second answer, again.')
  await expect(answers(page).last().locator('.sibling-nav')).toContainText('2 / 2')
  const conversationUrl = page.url()
  const cid = conversationUrl.split('/c/')[1]

  // The question's confirmation names its two answers; cancelling deletes nothing.
  await questions(page).last().hover()
  await questions(page).last().getByRole('button', { name: 'Delete message' }).click()
  const asked = page.getByRole('dialog').filter({ hasText: 'Delete message' })
  await expect(asked).toContainText('This question and its 2 answers will be deleted.')
  await shot(page, '25-delete-question-confirmation')
  await asked.getByRole('button', { name: 'Cancel' }).click()
  await expect(asked).toBeHidden()
  await expect(questions(page)).toHaveCount(2)

  // An answer: only it goes; its sibling is shown in its place.
  await deleteVia(page, answers(page).last(), 'This answer will be deleted.')
  await expect(answers(page)).toHaveCount(2)
  await expect(answers(page).last().locator('.markdown-body')).toHaveText('Second answer.')
  await expect(answers(page).last().locator('.sibling-nav')).toHaveCount(0)
  await page.reload()
  await expect(answers(page)).toHaveCount(2)
  await expect(answers(page).last().locator('.markdown-body')).toHaveText('Second answer.')
  await expect(page.getByText('Second answer, again.')).toHaveCount(0)
  let tree = await (await apiAs(page, 'GET', `/api/conversations/${cid}/messages`)).json()
  expect(tree.messages.map((m: { content: string }) => m.content)).toEqual([
    'First question',
    'First answer.',
    'Second question',
    'Second answer.',
  ])

  // A question: it goes with its answer; the first exchange stays, and is what is shown.
  await deleteVia(page, questions(page).last(), 'This question and its answer will be deleted.')
  await expect(questions(page)).toHaveCount(1)
  await expect(answers(page)).toHaveCount(1)
  await expect(answers(page).last().locator('.markdown-body')).toHaveText('First answer.')
  await shot(page, '25-after-deleting-a-question')
  await page.reload()
  await expect(questions(page)).toHaveCount(1)
  await expect(questions(page).first()).toContainText('First question')
  await expect(answers(page).last().locator('.markdown-body')).toHaveText('First answer.')
  tree = await (await apiAs(page, 'GET', `/api/conversations/${cid}/messages`)).json()
  expect(tree.messages).toHaveLength(2)
  expect(tree.current_leaf_id).toBe(tree.messages[1].id)

  // The conversation goes on from what is left.
  await upstream.configure({ reply: 'Third answer.' })
  await send(page, 'Third question')
  await expect(answers(page).last().locator('.markdown-body')).toHaveText('Third answer.')
  await expect(questions(page)).toHaveCount(2)
})

test('a question in Chinese says the same in Chinese', async ({ signedIn: page, upstream }) => {
  await upstream.configure({ reply: '回答。', token_delay: 0 })
  await page.evaluate(() => localStorage.setItem('chatgate.prefs', JSON.stringify({ locale: 'zh-CN' })))
  await page.reload()
  await page.getByRole('textbox', { name: '消息', exact: true }).fill('问题')
  await page.getByRole('button', { name: '发送消息' }).click()
  await expect(answers(page).last().locator('.markdown-body')).toHaveText('回答。')
  await questions(page).last().hover()
  await questions(page).last().getByRole('button', { name: '删除消息' }).click()
  await expect(page.getByRole('dialog').filter({ hasText: '删除消息' })).toContainText(
    '将删除这个问题及它的 1 个回答。',
  )
})
