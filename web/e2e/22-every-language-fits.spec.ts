/**
 * Every language fits (issue 16, acceptance 4): in each shipped UI language, at 1280×800 and on
 * a 360×740 phone, every page and dialog of the app (e2e/walk.ts) shows every button, link and
 * field inside the screen, not cut off by its container and with its label whole. Long
 * translations (Russian, Spanish, French, German, Vietnamese) are the usual suspects.
 */
import { LOCALE_CODES, SIZES, prepareWalk, walkContext, walkSignedIn, walkSignedOut, type WalkData } from './walk'
import { messages } from '../src/locales'
import { layoutProblems } from './layout'
import { expect, shot, signIn, test, upstreamVia } from './fixtures'

let data: WalkData
/** Kept to look at: the long-worded languages where controls used to fall off the screen. */
const SHOTS = new Set([
  'ru-RU 360 chat-settings',
  'es-ES 1280 chat-settings',
  'fr-FR 360 chat-settings',
  'de-DE 360 admin-quota-dialog',
  'vi-VN 360 preferences',
])

test.beforeAll(async ({ browser, playwright }) => {
  const request = await playwright.request.newContext()
  data = await prepareWalk(browser, upstreamVia(request))
  await request.dispose()
})

for (const code of LOCALE_CODES) {
  test(`every control fits in ${code} at 1280 px and 360 px`, async ({ browser }) => {
    test.setTimeout(90_000)
    const context = await walkContext(browser, code)
    const problems: string[] = []
    const screens = new Set<string>()
    // Both sizes at once, one page each (they share the context's session).
    const pages = await Promise.all(
      SIZES.map(async (size) => {
        const page = await context.newPage()
        await page.setViewportSize(size)
        const check = async (name: string) => {
          screens.add(name)
          for (const p of await layoutProblems(page)) problems.push(`${code} ${size.width}px ${name}: ${p}`)
          if (SHOTS.has(`${code} ${size.width} ${name}`)) await shot(page, `22-${name}-${code}-${size.width}`)
        }
        return { page, check }
      }),
    )
    try {
      await Promise.all(pages.map(({ page, check }) => walkSignedOut(page, data, check)))
      await signIn(context.request, data.admin)
      await Promise.all(pages.map(({ page, check }) => walkSignedIn(page, data, messages[code], check)))
    } finally {
      await context.close()
    }
    test.info().annotations.push({ type: 'screens', description: [...screens].join(', ') })
    expect([...new Set(problems)]).toEqual([])
  })
}
