/**
 * The shared prompt collection: an administrator adds a prompt in two languages in the admin
 * console; every user sees it in their prompt library and under `/`, in their language; removed,
 * it is gone for everyone.
 */
import { ADMIN, expect, pageFor, shot, signIn, test } from './fixtures'

const TITLE = `Team handbook ${Date.now().toString(36)}`
const TITLE_ZH = `团队手册 ${Date.now().toString(36)}`

test('an administrator keeps the shared prompts every user sees in their language', async ({ page, browser, user }) => {
  await signIn(page.request, ADMIN)
  await page.goto('/admin/prompts')
  await expect(page.getByRole('heading', { name: 'Shared prompts', level: 2 })).toBeVisible()
  const table = page.getByRole('table')
  await expect(table).toContainText('Translate')
  await expect(table).toContainText('zh-CN')

  await page.getByRole('button', { name: 'New shared prompt' }).click()
  const editor = page.getByRole('form', { name: 'New shared prompt' })
  await editor.getByRole('textbox', { name: 'Title' }).fill(TITLE)
  await editor.getByRole('textbox', { name: 'Prompt' }).fill('Answer following our team handbook:')
  await editor.getByRole('combobox', { name: 'Language' }).selectOption('zh-CN')
  await editor.getByRole('textbox', { name: 'Title' }).fill(TITLE_ZH)
  await editor.getByRole('textbox', { name: 'Prompt' }).fill('请按照我们团队的手册回答：')
  await shot(page, '27-admin-shared-prompt-editor')
  await editor.getByRole('button', { name: 'Save' }).click()
  await expect(page.getByText('Shared prompt saved')).toBeVisible()
  const row = table.getByRole('row').filter({ hasText: TITLE })
  await expect(row).toContainText('en-US')
  await expect(row).toContainText('zh-CN')
  await shot(page, '27-admin-shared-prompts')

  // A user in English sees the English text; under / too.
  const reader = await pageFor(browser, user)
  await reader.getByRole('button', { name: 'Prompt library' }).click()
  await expect(reader.getByRole('dialog').getByRole('list', { name: 'Shared with everyone' })).toContainText(TITLE)
  await reader.keyboard.press('Escape')
  const box = reader.getByRole('textbox', { name: 'Message', exact: true })
  await box.fill(`/${TITLE}`)
  await reader.getByRole('listbox', { name: 'Prompt suggestions' }).getByRole('option').first().click()
  await expect(box).toHaveValue('Answer following our team handbook:')

  // …and in Chinese, the Chinese text (the starter set too).
  await reader.evaluate(() => localStorage.setItem('chatgate.prefs', JSON.stringify({ locale: 'zh-CN' })))
  await reader.reload()
  await reader.getByRole('button', { name: '提示词库' }).click()
  const sharedZh = reader.getByRole('dialog').getByRole('list', { name: '所有人共享' })
  await expect(sharedZh).toContainText(TITLE_ZH)
  await expect(sharedZh).toContainText('翻译')
  await expect(sharedZh).not.toContainText(TITLE)
  await shot(reader, '27-shared-prompts-zh')

  // Removed by the administrator: gone for everyone.
  await row.getByRole('button', { name: `Delete: ${TITLE}` }).click()
  await page.getByRole('dialog').filter({ hasText: 'for everyone' }).getByRole('button', { name: 'Delete' }).click()
  await expect(page.getByText('Shared prompt deleted')).toBeVisible()
  await expect(table).not.toContainText(TITLE)
  await reader.reload()
  await reader.getByRole('button', { name: '提示词库' }).click()
  await expect(reader.getByRole('dialog').getByRole('list', { name: '所有人共享' })).not.toContainText(TITLE_ZH)
  await reader.context().close()
})
