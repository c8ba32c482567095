/**
 * A walk through every page and dialog of the app, for the checks that must hold everywhere:
 * every language fits (22-every-language-fits) and nothing is inaccessible (23-accessibility).
 * `walk()` brings a page to each screen in turn and calls `visit(name)` there; what to check is
 * the caller's. One conversation (with code and math), one share link and one administrator are
 * made once by `prepareWalk()` and reused by every walk.
 */
import { spawnSync } from 'node:child_process'
import type { Browser, BrowserContext, Page } from '@playwright/test'
import { LOCALES, messages } from '../src/locales'
import { chatgateEnv } from './server'
import { expect, signIn, state, type TestUser } from './fixtures'

export type LocaleCode = (typeof LOCALES)[number]['code']
export type Strings = (typeof messages)['en-US']
export const LOCALE_CODES = LOCALES.map((l) => l.code) as LocaleCode[]
export const SIZES = [
  { width: 1280, height: 800 },
  { width: 360, height: 740 },
] as const
export type Size = (typeof SIZES)[number]

export interface WalkData {
  admin: TestUser
  conversationId: string
  shareUrl: string
}

/** The walk's conversation: a title that must fit a phone's header, code, math and a list. */
export const WALK_QUESTION = 'Please share a pancake recipe'
const WALK_ANSWER = [
  'Here is a short recipe.',
  '',
  '1. Mix flour, milk and eggs.',
  '2. Fry on both sides.',
  '',
  '```python',
  'print("flip")',
  '```',
  '',
  'Per pancake: $\\int_0^1 x^2\\,dx = \\frac{1}{3}$ cup of batter.',
].join('\n')

/** A small picture (48 × 32 PNG) and a note, attached to the walk's question (chat and shared view show them). */
const WALK_IMAGE = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAADAAAAAgCAIAAADbtmxLAAAAZElEQVR4nO3WoRGAMBAFUWAoACR1UCDFpB7qQNICHpJZBXyxKxNxb05dP5WtS2r4G3BPECWIEkSNrY9zPd6ePe/L8zFuQ4IoQZQgShAliBJECaLiQM0DrXo9fVDchgRRgqg40AX5RgVtev6YnQAAAABJRU5ErkJggg==',
  'base64',
)
const WALK_NOTE = Buffer.from('# Pancakes\n\nFlour, milk, eggs, a pinch of salt.\n')

/** An administrator (the console's tabs are part of the walk) with one answered conversation (with a picture and a note attached) and a share link. */
export async function prepareWalk(
  browser: Browser,
  upstream: { configure(o: { reply?: string; token_delay?: number }): Promise<void> },
): Promise<WalkData> {
  const admin = { username: `walk${Date.now().toString(36)}`, password: 'walk-password-123' }
  const created = spawnSync(state.chatgate, ['user', 'add', admin.username, '--admin', '--password-stdin'], {
    cwd: state.workDir,
    env: chatgateEnv({ CHATGATE_DATA_DIR: state.dataDir }),
    input: `${admin.password}\n`,
    encoding: 'utf8',
  })
  if (created.status !== 0) throw new Error(`user add failed: ${created.stdout}${created.stderr}`)
  await upstream.configure({ reply: WALK_ANSWER, token_delay: 0 })
  const context = await browser.newContext({ baseURL: state.url })
  try {
    await signIn(context.request, admin)
    const headers = { Origin: state.url }
    const conversation = await (
      await context.request.post('/api/conversations', { data: { title: WALK_QUESTION }, headers })
    ).json()
    const files: string[] = []
    for (const file of [
      { name: 'pancakes.png', mimeType: 'image/png', buffer: WALK_IMAGE },
      { name: 'pancake-notes.md', mimeType: 'text/markdown', buffer: WALK_NOTE },
    ]) {
      const uploaded = await context.request.post('/api/attachments', { multipart: { file }, headers })
      expect(uploaded.ok(), await uploaded.text()).toBe(true)
      files.push((await uploaded.json()).id)
    }
    // The answer streams as server-sent events; the response ends when it is complete. The
    // picture needs a model that sees (the test server's fake-model-2).
    const sent = await context.request.post(`/api/conversations/${conversation.id}/messages`, {
      data: { content: WALK_QUESTION, parent_id: null, model: 'fake-model-2', attachments: files },
      headers,
    })
    expect(sent.ok(), await sent.text()).toBe(true)
    const share = await context.request.post(`/api/conversations/${conversation.id}/shares`, { headers })
    expect(share.ok(), await share.text()).toBe(true)
    return { admin, conversationId: conversation.id, shareUrl: (await share.json()).url }
  } finally {
    await context.close()
  }
}

/** A browser context in one language and theme, with animations off (screens settle at once). */
export async function walkContext(
  browser: Browser,
  locale: LocaleCode,
  theme: 'light' | 'dark' = 'light',
): Promise<BrowserContext> {
  const context = await browser.newContext({
    baseURL: state.url,
    serviceWorkers: 'block',
    locale,
    colorScheme: theme,
    viewport: { ...SIZES[0] },
  })
  await context.addInitScript(
    ([code, mode]) => {
      localStorage.setItem(
        'chatgate.prefs',
        JSON.stringify({ theme: mode, locale: code, sendKey: 'enter', sidebarCollapsed: false }),
      )
      const style = () => {
        const el = document.createElement('style')
        el.textContent =
          '*, *::before, *::after { transition: none !important; animation: none !important; caret-color: transparent !important; }'
        document.head.append(el)
      }
      if (document.head) style()
      else document.addEventListener('DOMContentLoaded', style, { once: true })
    },
    [locale, theme] as const,
  )
  return context
}

const OVERLAY = '.n-modal:visible, .n-drawer:visible, .n-dropdown-menu:visible, .n-dialog:visible'

async function closeOverlays(page: Page): Promise<void> {
  for (let i = 0; i < 3 && (await page.locator(OVERLAY).count()); i++) await page.keyboard.press('Escape')
  await expect(page.locator(OVERLAY)).toHaveCount(0)
}

async function settled(page: Page): Promise<void> {
  await expect(page.locator('main .n-spin:visible, [role="status"] .n-spin:visible')).toHaveCount(0)
}

async function open(page: Page, path: string, ready: string): Promise<void> {
  await page.goto(path)
  await expect(page.locator(ready).first()).toBeVisible()
  await settled(page)
}

export type Visit = (name: string) => Promise<void>

/** Open something, wait until `shown` is on screen and settled, look at it, close it (unless more follows from it). */
async function look(
  page: Page,
  visit: Visit,
  name: string,
  open: () => Promise<unknown>,
  shown: string,
  close = true,
): Promise<void> {
  await open()
  await expect(page.locator(shown).first()).toBeVisible()
  await settled(page)
  await visit(name)
  if (close) await closeOverlays(page)
}

/** The screens that need nobody signed in: sign-in and a shared conversation. */
export async function walkSignedOut(page: Page, data: WalkData, visit: Visit): Promise<void> {
  await open(page, '/login', '.auth-form')
  await visit('sign-in')
  // The setup link, used: an alert with a link to sign in.
  await open(page, '/setup', '.auth-card .n-alert a')
  await visit('setup-used')
  await open(page, data.shareUrl, '.chat-thread article')
  await visit('shared-view')
}

/** Everything a signed-in administrator sees: the chat (walkChat), the account page and the console (walkPages). */
export async function walkSignedIn(page: Page, data: WalkData, s: Strings, visit: Visit): Promise<void> {
  await walkChat(page, data, s, visit)
  await walkPages(page, data, s, visit)
}

/** The setup form, the chat screen and its drawers, menus and dialogs. */
export async function walkChat(page: Page, data: WalkData, s: Strings, visit: Visit): Promise<void> {
  const mobile = (page.viewportSize()?.width ?? 1280) < 768
  const button = (name: string) => page.getByRole('button', { name, exact: true })
  /** On a phone the header's actions are in one menu, the sidebar in a drawer. */
  const headerAction = async (name: string) => {
    if (mobile) {
      await button(s.chat.moreActions).click()
      await page.locator('.n-dropdown-menu').getByText(name, { exact: true }).click()
    } else {
      await button(name).click()
    }
  }
  const sidebarAction = async (name: string) => {
    if (mobile) await button(s.sidebar.open).click()
    await page.locator('.sidebar-footer').getByRole('button', { name, exact: true }).click()
  }

  await open(page, '/setup?token=walk-token', '.auth-form')
  await visit('setup')

  await open(page, '/', '.chat-empty')
  await visit('chat-new')

  await open(page, `/c/${data.conversationId}`, 'article[data-role="assistant"] .katex')
  await expect(page.locator('article[data-role="user"] .message-image img')).toBeVisible()
  await visit('chat')

  // The message box with a file attached (its chip, the paperclip), then the file removed again.
  await page.locator('[data-testid="attach-input"]').setInputFiles({
    name: `walk-notes-${mobile ? 'phone' : 'desktop'}.md`,
    mimeType: 'text/markdown',
    buffer: Buffer.concat([WALK_NOTE, Buffer.from(mobile ? 'phone\n' : 'desktop\n')]),
  })
  await expect(page.locator('.composer-files li[data-status="ready"]')).toBeVisible()
  await visit('composer-attachment')
  await page.locator('.composer-files .file-chip-remove').click()
  await expect(page.locator('.composer-files')).toHaveCount(0)

  if (mobile) {
    await look(page, visit, 'sidebar-drawer', () => button(s.sidebar.open).click(), '.n-drawer .sidebar')
    await look(page, visit, 'chat-more-menu', () => button(s.chat.moreActions).click(), '.n-dropdown-menu')
  } else {
    await page.locator('.conversation-item').first().hover()
    await look(
      page,
      visit,
      'conversation-menu',
      () => page.locator('.conversation-more').first().click(),
      '.n-dropdown-menu',
      false,
    )
    await look(
      page,
      visit,
      'delete-dialog',
      () => page.locator('.n-dropdown-menu').getByText(s.common.delete, { exact: true }).click(),
      '.n-dialog',
    )
    await look(page, visit, 'export-menu', () => button(s.share.export).click(), '.n-dropdown-menu')
  }
  await look(
    page,
    visit,
    'chat-settings',
    async () => {
      await headerAction(s.chat.settings)
      // The sliders show only when a value is set.
      await page.locator('.n-drawer .n-switch').first().click()
    },
    '.n-drawer input[type="range"]',
  )
  await look(page, visit, 'share-dialog', () => headerAction(s.share.button), '.n-modal')
  await look(page, visit, 'prompt-library', () => sidebarAction(s.prompts.title), '.n-modal')
  await look(
    page,
    visit,
    'preferences',
    async () => {
      await sidebarAction(s.prefs.title)
      await page.locator('.n-modal').getByRole('button', { name: s.auth.changePassword, exact: true }).click()
    },
    '.n-modal input[type="password"]',
  )
}

/** The account page, every admin tab with the users' and upstreams' dialogs, and the setup's second step. */
export async function walkPages(page: Page, data: WalkData, s: Strings, visit: Visit): Promise<void> {
  const button = (name: string) => page.getByRole('button', { name, exact: true })
  await open(page, '/account', 'main#main-content h2')
  await visit('account')

  await open(page, '/admin/users', '.admin-section h2')
  await expect(page.locator('.admin-table tbody tr').first()).toBeVisible()
  await visit('admin-users')
  await look(page, visit, 'admin-create-user', () => button(s.admin.createUser).click(), '.n-modal')
  await look(
    page,
    visit,
    'admin-quota-dialog',
    async () => {
      await button(`${s.admin.actions}: ${data.admin.username}`).click()
      await page.locator('.n-dropdown-menu').getByText(s.admin.editQuota, { exact: true }).click()
    },
    '.n-modal',
  )

  const tabs = await page
    .locator('.admin-tab')
    .evaluateAll((links) => links.map((a) => (a as HTMLAnchorElement).pathname))
  for (const path of tabs) {
    const tab = path.split('/').pop() ?? ''
    if (tab === 'users' || path === '/admin') continue
    await page.locator(`.admin-tab[href="${path}"]`).click()
    await expect(page).toHaveURL(new RegExp(`${path}$`))
    await expect(page.locator('.admin-section h2').first()).toBeVisible()
    await settled(page)
    await visit(`admin-${tab}`)
  }

  // Admin → Upstreams' dialogs: connecting a service, and a model's settings.
  await open(page, '/admin/upstreams', '.provider-card tr[data-model]')
  await look(
    page,
    visit,
    'admin-connect-service',
    () => page.locator('.admin-toolbar').getByRole('button', { name: s.connect.title, exact: true }).click(),
    '.n-modal .connect-form',
  )
  await look(
    page,
    visit,
    'admin-model-dialog',
    () => button(s.upstreams.editFor.replace('{name}', 'fake-model')).click(),
    '.n-modal input[aria-label]',
  )

  // The setup's second step, as the administrator who has just created the first account sees it.
  await open(page, '/setup?step=connect', '.auth-card .connect-form')
  await visit('setup-connect')
}
