import { expect, shot, test } from './fixtures'

const PROMPT_STORE = [
  { key: '翻译助手', value: '请把下面的内容翻译成英文：' },
  { key: 'Linux Terminal', value: 'I want you to act as a linux terminal.' },
  { key: 'Code Reviewer', value: 'Review the following code for bugs:' },
]

test('a chatgpt-web prompt-store JSON imports and its prompts appear under /', async ({ signedIn: page }) => {
  await page.getByRole('button', { name: 'Prompt library' }).click()
  const dialog = page.getByRole('dialog')
  await expect(dialog.getByText('No prompts yet')).toBeVisible()
  await dialog.getByTestId('prompt-import-file').setInputFiles({
    name: 'prompts.json',
    mimeType: 'application/json',
    buffer: Buffer.from(JSON.stringify(PROMPT_STORE)),
  })
  await expect(page.getByText('Imported: 3 new, 0 updated')).toBeVisible()
  for (const p of PROMPT_STORE) await expect(dialog.getByText(p.key, { exact: true })).toBeVisible()
  await shot(page, '08-prompt-library')

  // A broken file is refused with a reason.
  await dialog.getByTestId('prompt-import-file').setInputFiles({ name: 'bad.json', mimeType: 'application/json', buffer: Buffer.from('{oops') })
  await expect(page.getByText('Could not import this file: it is not valid JSON')).toBeVisible()
  await page.keyboard.press('Escape')

  const box = page.getByRole('textbox', { name: 'Message', exact: true })
  await box.fill('/')
  const list = page.getByRole('listbox', { name: 'Prompt suggestions' })
  await expect(list.getByRole('option')).toHaveCount(3)
  await box.fill('/lin')
  await expect(list.getByRole('option')).toHaveCount(1)
  await expect(list.getByRole('option')).toContainText('Linux Terminal')
  await shot(page, '08-slash-suggestions')
  await box.press('Enter')
  await expect(box).toHaveValue('I want you to act as a linux terminal.')
  await expect(list).toBeHidden()

  // Keyboard choice among several.
  await box.fill('/')
  await box.press('ArrowDown')
  await box.press('Enter')
  await expect(box).toHaveValue(PROMPT_STORE[1].value)

  // The library survives a reload (it is a UI preference in localStorage).
  await page.reload()
  await page.getByRole('textbox', { name: 'Message', exact: true }).fill('/翻译')
  await expect(page.getByRole('listbox', { name: 'Prompt suggestions' }).getByRole('option')).toContainText('翻译助手')
})
