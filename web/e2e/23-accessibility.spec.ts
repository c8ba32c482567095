/**
 * Accessible (issue 16, acceptance 5): axe-core on every page and dialog (e2e/walk.ts: sign-in,
 * shared view, setup, chat, its drawers, menus and dialogs, prompt library, preferences,
 * account, every admin tab and dialog) in light and dark, on a desktop and on a phone: no
 * critical or serious violation (text contrast 4.5:1, every control named…). The pages covered
 * are listed in the report. Then the whole chat flow by keyboard alone: sign in, new chat,
 * type, send, open the settings, close them with Esc — with a focus ring that can be seen.
 */
import AxeBuilder from '@axe-core/playwright'
import type { BrowserContext, Locator, Page } from '@playwright/test'
import { messages } from '../src/locales'
import {
  SIZES,
  prepareWalk,
  walkChat,
  walkContext,
  walkPages,
  walkSignedOut,
  type Size,
  type Visit,
  type WalkData,
} from './walk'
import { answers, createUser, expect, shot, signIn, test, upstreamVia } from './fixtures'

let data: WalkData
const en = messages['en-US']

test.beforeAll(async ({ browser, playwright }) => {
  const request = await playwright.request.newContext()
  data = await prepareWalk(browser, upstreamVia(request))
  await request.dispose()
})

async function violations(page: Page): Promise<string[]> {
  const result = await new AxeBuilder({ page }).analyze()
  return result.violations
    .filter((v) => v.impact === 'critical' || v.impact === 'serious')
    .map(
      (v) =>
        `${v.impact} ${v.id}: ${v.help} — ${v.nodes
          .slice(0, 4)
          .map(
            (n) =>
              `${n.target.join(' ')}${n.failureSummary ? ` (${n.failureSummary.replace(/\s+/g, ' ').slice(0, 160)})` : ''}`,
          )
          .join('; ')}`,
    )
}

/**
 * The walk in three parts, each a test per theme: axe takes a second or more per screen on a
 * loaded machine (the other worker's browser runs beside it), and 38 screens in one test ran
 * into its timeout. A part takes 25-47 s in a full run here; CI's machine has been 1.8× slower.
 * Every part but the first starts signed in.
 */
const PARTS: {
  where: string
  size: Size
  walk: (page: Page, visit: Visit, context: BrowserContext) => Promise<void>
}[] = [
  {
    where: 'the sign-in pages and the chat on a desktop',
    size: SIZES[0],
    walk: async (page, visit, context) => {
      await walkSignedOut(page, data, visit)
      await signIn(context.request, data.admin)
      await walkChat(page, data, en, visit)
    },
  },
  {
    where: 'the account page and the admin console on a desktop',
    size: SIZES[0],
    walk: async (page, visit, context) => {
      await signIn(context.request, data.admin)
      await walkPages(page, data, en, visit)
    },
  },
  {
    // On a phone the chat has its own header menu and the sidebar is a drawer.
    where: 'the chat on a phone',
    size: SIZES[1],
    walk: async (page, visit, context) => {
      await signIn(context.request, data.admin)
      await walkChat(page, data, en, visit)
    },
  },
]

for (const theme of ['light', 'dark'] as const) {
  for (const part of PARTS) {
    test(`axe: no critical or serious violation on ${part.where}, ${theme} theme`, async ({ browser }) => {
      test.setTimeout(180_000)
      const context = await walkContext(browser, 'en-US', theme)
      const found: string[] = []
      const covered: string[] = []
      try {
        const page = await context.newPage()
        await page.setViewportSize(part.size)
        const visit = async (name: string) => {
          covered.push(`${name} (${part.size.width}px)`)
          for (const v of await violations(page)) found.push(`${theme} ${part.size.width}px ${name}: ${v}`)
        }
        await part.walk(page, visit, context)
      } finally {
        await context.close()
      }
      // The report says what was covered.
      console.log(`axe ${theme}, ${part.where}: ${covered.length} screens — ${covered.join(', ')}`)
      test.info().annotations.push({ type: 'pages covered', description: covered.join(', ') })
      expect([...new Set(found)]).toEqual([])
    })
  }
}

async function tabTo(page: Page, target: Locator, max = 40): Promise<void> {
  for (let i = 0; i < max; i++) {
    if (await target.evaluate((el) => el === document.activeElement).catch(() => false)) return
    await page.keyboard.press('Tab')
  }
  throw new Error(`${target} is not reachable with Tab`)
}

/** The focus ring of the focused element: a visible outline (or box-shadow) in a colour unlike the background. */
async function focusRing(page: Page): Promise<string> {
  return page.evaluate(() => {
    const el = document.activeElement as HTMLElement
    const cs = getComputedStyle(el)
    if (cs.outlineStyle !== 'none' && parseFloat(cs.outlineWidth) >= 2)
      return `outline ${cs.outlineWidth} ${cs.outlineColor}`
    if (cs.boxShadow && cs.boxShadow !== 'none') return `box-shadow ${cs.boxShadow}`
    return ''
  })
}

test('the whole chat flow by keyboard alone, with a focus ring that can be seen', async ({ page, upstream }) => {
  const user = createUser('keys')
  await upstream.configure({ reply: 'Typed by keyboard, answered.', token_delay: 0 })
  await page.goto('/')
  await expect(page.getByRole('heading', { name: en.auth.signInTitle })).toBeVisible()

  // Sign in: the username field has the focus; Tab, Enter.
  await expect(page.getByLabel(en.auth.username)).toBeFocused()
  await page.keyboard.type(user.username)
  await page.keyboard.press('Tab')
  await expect(page.getByLabel(en.auth.password)).toBeFocused()
  await page.keyboard.type(user.password)
  await page.keyboard.press('Enter')

  // Type and send: the message box has the focus.
  const box = page.getByRole('textbox', { name: en.chat.input, exact: true })
  await expect(box).toBeFocused()
  await page.keyboard.type('Hello from the keyboard')
  await page.keyboard.press('Enter')
  await expect(answers(page).last().locator('.markdown-body')).toHaveText('Typed by keyboard, answered.')

  // The chat settings open with Enter and close with Esc; the focus comes back to the button.
  const settings = page.getByRole('button', { name: en.chat.settings, exact: true })
  await tabTo(page, settings)
  expect(await focusRing(page), "the settings button's focus ring").not.toBe('')
  await page.keyboard.press('Enter')
  const drawer = page.getByRole('dialog', { name: en.settings.title })
  await expect(drawer).toBeVisible()
  await tabTo(page, drawer.getByRole('switch').first())
  await page.keyboard.press('Space')
  await tabTo(page, drawer.getByRole('slider').first())
  await page.keyboard.press('ArrowRight')
  await page.keyboard.press('Escape')
  await expect(drawer).toBeHidden()
  await expect(settings).toBeFocused()

  // A new chat, from a button whose focus ring can be seen.
  const newChat = page.getByRole('button', { name: en.sidebar.newChat, exact: true })
  await tabTo(page, newChat)
  expect(await focusRing(page), "the New chat button's focus ring").not.toBe('')
  await shot(page, '23-focus-new-chat')
  await page.keyboard.press('Enter')
  await expect(page).toHaveURL(/\/$/)
  await expect(box).toBeFocused()

  // On a page with nothing focused, the first Tab shows the skip link; it lands in the content.
  await page.goto('/account')
  await expect(page.getByRole('heading', { level: 1 })).toBeVisible()
  await page.keyboard.press('Tab')
  const skip = page.getByRole('link', { name: en.a11y.skipToContent })
  await expect(skip).toBeFocused()
  await expect(skip).toBeInViewport()
  expect(await focusRing(page)).not.toBe('')
  await page.keyboard.press('Enter')
  await expect(page.locator('main#main-content')).toBeFocused()
})
