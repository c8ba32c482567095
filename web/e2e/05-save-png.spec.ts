import { readFileSync } from 'node:fs'
import { answers, expect, send, shot, test } from './fixtures'

function pngSize(file: string): { width: number; height: number; bytes: number } {
  const buf = readFileSync(file)
  expect(buf.subarray(0, 8).toString('hex')).toBe('89504e470d0a1a0a')
  return { width: buf.readUInt32BE(16), height: buf.readUInt32BE(20), bytes: buf.length }
}

test('save-as-PNG produces a non-empty image of the conversation and of one answer', async ({
  signedIn: page,
  upstream,
}) => {
  await upstream.configure({
    reply: '# A heading\n\nSome **bold** text, a list:\n\n- one\n- two\n\n```js\nconsole.log(1)\n```\n\n$x^2$',
    token_delay: 0,
  })
  await send(page, 'Make something worth saving')
  await expect(answers(page).last().locator('.katex')).toBeVisible()

  const [conversationPng] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('button', { name: 'Save conversation as image' }).click(),
  ])
  expect(conversationPng.suggestedFilename()).toMatch(/\.png$/)
  const path = test.info().outputPath('conversation.png')
  await conversationPng.saveAs(path)
  const size = pngSize(path)
  expect(size.bytes).toBeGreaterThan(5_000)
  expect(size.width).toBeGreaterThan(300)
  expect(size.height).toBeGreaterThan(200)
  await expect(page.getByText('Image saved')).toBeVisible()

  const answer = answers(page).last()
  await answer.hover()
  const [answerPng] = await Promise.all([
    page.waitForEvent('download'),
    answer.getByRole('button', { name: 'Save as image' }).click(),
  ])
  const answerPath = test.info().outputPath('answer.png')
  await answerPng.saveAs(answerPath)
  expect(pngSize(answerPath).bytes).toBeGreaterThan(2_000)

  // Keep a copy to look at.
  const { copyFileSync, mkdirSync } = await import('node:fs')
  mkdirSync('test-results/screens', { recursive: true })
  copyFileSync(path, 'test-results/screens/05-saved-conversation.png')
  await shot(page, '05-after-save')
})
