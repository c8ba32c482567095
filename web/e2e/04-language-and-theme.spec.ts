import { answers, expect, send, shot, test } from './fixtures'

test('switching to 简体中文 and the dark theme changes the whole UI, renders real glyphs and survives a reload', async ({
  signedIn: page,
  upstream,
}) => {
  await upstream.configure({ reply: '你好！这是**中文**回答，包含代码：`print("你好")`。', token_delay: 0 })
  await send(page, 'Say hello in Chinese')
  await expect(answers(page).last().locator('strong')).toHaveText('中文')

  await page.getByRole('button', { name: 'Settings', exact: true }).click()
  const dialog = page.getByRole('dialog')
  await dialog.getByLabel('Language').selectOption({ label: '简体中文' })
  // The dialog itself is now in Chinese.
  await dialog.getByText('深色', { exact: true }).click()
  await expect(page.locator('html')).toHaveClass(/dark/)
  await expect(page.locator('html')).toHaveAttribute('lang', 'zh-CN')
  await page.keyboard.press('Escape')

  // A fresh page load (of the app's start URL) keeps both choices.
  await page.goto('/')
  await expect(page.getByRole('button', { name: '新建对话' })).toBeVisible()
  await expect(page.getByRole('textbox', { name: '消息' })).toHaveAttribute('placeholder', '给 ChatGate 发送消息')
  await expect(page.getByText('Enter 发送 · Shift+Enter 换行')).toBeVisible()
  await expect(page.locator('html')).toHaveClass(/dark/)
  await expect(page.locator('html')).toHaveAttribute('lang', 'zh-CN')
  const background = await page.evaluate(() => getComputedStyle(document.body).backgroundColor)
  expect(background).toBe('rgb(33, 33, 33)')

  await page.getByRole('navigation', { name: '对话列表' }).getByRole('link').first().click()
  await expect(answers(page).last().locator('strong')).toHaveText('中文')

  // Real CJK glyphs: '你' drawn with the page's font differs from a missing-glyph box.
  const distinct = await page.evaluate(() => {
    const font = `32px ${getComputedStyle(document.body).fontFamily}`
    const draw = (ch: string) => {
      const canvas = document.createElement('canvas')
      canvas.width = 48
      canvas.height = 48
      const ctx = canvas.getContext('2d')!
      ctx.font = font
      ctx.fillText(ch, 4, 36)
      return Array.from(ctx.getImageData(0, 0, 48, 48).data).join(',')
    }
    return draw('你') !== draw('\u{10FFFD}') && draw('你') !== draw('好')
  })
  expect(distinct).toBe(true)
  await shot(page, '04-zh-dark')

  // Back to English, light.
  await page.getByRole('button', { name: '设置', exact: true }).click()
  await page.getByRole('dialog').getByLabel('语言').selectOption({ label: 'English' })
  await page.getByRole('dialog').getByText('Light', { exact: true }).click()
  await expect(page.locator('html')).not.toHaveClass(/dark/)
})
