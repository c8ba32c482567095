import { readFileSync } from 'node:fs'
import { expect, shot, test } from './fixtures'

const PROMPT_STORE = [
  { key: '翻译助手', value: '请把下面的内容翻译成英文：' },
  { key: 'Linux Terminal', value: 'I want you to act as a linux terminal.' },
  { key: 'Code Reviewer', value: 'Review the following code for bugs:' },
]

test('a chatgpt-web prompt-store JSON imports, its prompts appear under /, and it exports again', async ({
  signedIn: page,
}) => {
  await page.getByRole('button', { name: 'Prompt library' }).click()
  const dialog = page.getByRole('dialog')
  await expect(dialog.getByText('No prompts yet')).toBeVisible()
  // The administrators' starter collection is there for everyone.
  await expect(dialog.getByRole('list', { name: 'Shared with everyone' })).toContainText('Proofread')
  await dialog.getByTestId('prompt-import-file').setInputFiles({
    name: 'prompts.json',
    mimeType: 'application/json',
    buffer: Buffer.from(JSON.stringify(PROMPT_STORE)),
  })
  await expect(page.getByText('Imported: 3 new, 0 updated')).toBeVisible()
  const mine = dialog.getByRole('list', { name: 'My prompts' })
  for (const p of PROMPT_STORE) await expect(mine.getByText(p.key, { exact: true })).toBeVisible()
  await shot(page, '08-prompt-library')

  // Export gives back chatgpt-web's format.
  const download = page.waitForEvent('download')
  await dialog.getByRole('button', { name: 'Export' }).click()
  const file = await download
  expect(file.suggestedFilename()).toBe('chatgate-prompts.json')
  expect(JSON.parse(readFileSync(await file.path(), 'utf8'))).toEqual(PROMPT_STORE)

  // A broken file is refused with a reason.
  await dialog
    .getByTestId('prompt-import-file')
    .setInputFiles({ name: 'bad.json', mimeType: 'application/json', buffer: Buffer.from('{oops') })
  await expect(page.getByText('Could not import this file: it is not valid JSON')).toBeVisible()
  await page.keyboard.press('Escape')

  // My prompts come first under /, then the shared ones.
  const box = page.getByRole('textbox', { name: 'Message', exact: true })
  await box.fill('/')
  const list = page.getByRole('listbox', { name: 'Prompt suggestions' })
  const options = list.getByRole('option')
  await expect(options.nth(0)).toContainText('翻译助手')
  await expect(options.nth(1)).toContainText('Linux Terminal')
  await expect(options.nth(2)).toContainText('Code Reviewer')
  await expect(options.nth(3)).toContainText('Translate')
  await box.fill('/linux')
  await expect(options).toHaveCount(1)
  await expect(options).toContainText('Linux Terminal')
  await shot(page, '08-slash-suggestions')
  await box.press('Enter')
  await expect(box).toHaveValue('I want you to act as a linux terminal.')
  await expect(list).toBeHidden()

  // Keyboard choice among several.
  await box.fill('/')
  await box.press('ArrowDown')
  await box.press('Enter')
  await expect(box).toHaveValue(PROMPT_STORE[1].value)

  // The library is kept on the server: it survives a reload (and follows the account).
  await page.reload()
  await page.getByRole('textbox', { name: 'Message', exact: true }).fill('/翻译助手')
  await expect(page.getByRole('listbox', { name: 'Prompt suggestions' }).getByRole('option')).toContainText('翻译助手')
})
