/**
 * Credentials that heal, as the administrator sees them (issue 14, acceptance 3): the upstream
 * refuses the only credential once (401); the admin console shows it resting, why, since when and
 * when it is tried again (counting down), every page tells the admin that people get an error
 * until then, and "Try now" brings it back at once. Its own server, so no other spec meets a
 * resting credential.
 */
import { startChatGate } from './server'
import { answers, expect, send, shot, state, test } from './fixtures'

test('a credential refused once rests with its next try shown, and "Try now" brings it back', async ({
  browser,
  upstream,
}) => {
  const server = await startChatGate({
    name: 'heal',
    upstreamUrl: state.upstreamUrl,
    env: { CHATGATE_CREDENTIAL_REST_SECONDS: '30' },
  })
  try {
    const admin = { username: `healer${Date.now().toString(36)}`, password: 'heal-password-123' }
    const created = server.cli(['user', 'add', admin.username, '--admin', '--password-stdin'], `${admin.password}\n`)
    expect(created.status, created.stderr).toBe(0)
    const context = await browser.newContext({
      baseURL: server.url,
      serviceWorkers: 'block',
      locale: 'en-US',
      colorScheme: 'light',
    })
    const consolePage = await context.newPage()
    expect(
      (await consolePage.request.post('/api/auth/login', { data: admin, headers: { Origin: server.url } })).status(),
    ).toBe(200)
    await consolePage.goto('/admin/upstreams')
    const card = consolePage.getByRole('article', { name: 'fake' })
    const row = card.locator('tbody tr').first()
    await expect(row).toHaveAttribute('data-state', 'ready')
    await expect(row).toContainText('Ready')
    const notice = consolePage.getByRole('status', { name: 'Upstream status' })
    await expect(notice).toHaveCount(0)
    const name = (await row.getAttribute('data-credential'))!

    // Someone chats; the upstream refuses the key once.
    const chat = await context.newPage()
    await chat.goto('/')
    await upstream.queue('auth_error')
    await send(chat, 'Hello?')
    await expect(answers(chat).last().getByRole('alert')).toBeVisible({ timeout: 20_000 })

    // The consolePage shows the credential resting: reason, when, refusals in a row, next try.
    await expect(row).toHaveAttribute('data-state', 'resting', { timeout: 10_000 })
    await expect(row).toContainText('Resting')
    await expect(row).toContainText('Refusals in a row: 1')
    await expect(row.locator('.credential-reason')).toContainText(/API key/i)
    await expect(row.locator('time.credential-error-time')).toHaveAttribute('datetime', /^\d{4}-\d\d-\d\dT/)
    const countdown = row.locator('.credential-countdown')
    await expect(countdown).toHaveText(/^in \d+ seconds?$/)
    const seconds = Number(/\d+/.exec((await countdown.textContent())!)![0])
    expect(seconds).toBeGreaterThan(0)
    expect(seconds).toBeLessThanOrEqual(30)
    await expect(countdown).not.toHaveText(`in ${seconds} seconds`) // it counts down by itself
    await expect(row.locator('time[datetime]').first()).toBeVisible()
    expect(await consolePage.locator('#app').textContent()).not.toContain('sk-test')
    // …and the notice at the top says until when people get an error.
    await expect(notice).toHaveText(/^No usable credential for fake: people get an error until .*\d\d.*\.$/)
    await expect(card).toHaveClass(/is-unusable/)
    await shot(consolePage, '20-upstreams-resting')
    await consolePage.emulateMedia({ colorScheme: 'dark' })
    await expect(consolePage.locator('html')).toHaveClass(/dark/)
    await consolePage.waitForTimeout(500) // the theme's colour transitions
    await shot(consolePage, '20-upstreams-resting-dark')
    await consolePage.setViewportSize({ width: 360, height: 740 })
    await consolePage.waitForTimeout(200)
    const overflow = await consolePage.evaluate(
      () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
    )
    expect(overflow).toBeLessThanOrEqual(0)
    await shot(consolePage, '20-upstreams-resting-360-dark')
    await consolePage.emulateMedia({ colorScheme: 'light' })
    await consolePage.waitForTimeout(500)
    await shot(consolePage, '20-upstreams-resting-360')

    // In the chat view the administrator sees the same notice, with the way to the consolePage.
    await chat.reload()
    const chatNotice = chat.getByRole('status', { name: 'Upstream status' })
    await expect(chatNotice).toContainText('No usable credential for fake')
    await expect(chatNotice.getByRole('link', { name: 'Upstreams' })).toHaveAttribute('href', '/admin/upstreams')
    await expect(chat.getByRole('navigation', { name: 'Conversations' }).getByRole('link')).toHaveCount(1)
    await shot(chat, '20-chat-notice')

    // "Try now" ends the rest at once.
    await consolePage.setViewportSize({ width: 1280, height: 800 })
    await consolePage.getByRole('button', { name: `Try now: ${name}` }).click()
    await expect(consolePage.getByText(`${name} is back in use`)).toBeVisible()
    await expect(row).toHaveAttribute('data-state', 'ready')
    await expect(row).toContainText('Ready')
    await expect(consolePage.getByRole('button', { name: `Try now: ${name}` })).toHaveCount(0)
    await expect(notice).toHaveCount(0)
    await shot(consolePage, '20-upstreams-ready')

    // …and the next message is answered.
    await send(chat, 'Hello again?')
    await expect(answers(chat).last().locator('.message-answer')).toHaveText('Hello from the fake model.', {
      timeout: 20_000,
    })
    await context.close()
  } finally {
    await server.stop()
  }
})

test('without anyone doing anything, the refused credential is tried again and a new message is answered within 35 s', async ({
  browser,
  upstream,
}) => {
  const server = await startChatGate({ name: 'self-heal', upstreamUrl: state.upstreamUrl })
  try {
    const admin = { username: `watcher${Date.now().toString(36)}`, password: 'heal-password-123' }
    const created = server.cli(['user', 'add', admin.username, '--admin', '--password-stdin'], `${admin.password}\n`)
    expect(created.status, created.stderr).toBe(0)
    const context = await browser.newContext({
      baseURL: server.url,
      serviceWorkers: 'block',
      locale: 'en-US',
      colorScheme: 'light',
    })
    const chat = await context.newPage()
    expect(
      (await chat.request.post('/api/auth/login', { data: admin, headers: { Origin: server.url } })).status(),
    ).toBe(200)
    await chat.goto('/')
    await upstream.queue('auth_error')
    await send(chat, 'Hello?')
    const refusedAt = Date.now()
    await expect(answers(chat).last().getByRole('alert')).toBeVisible({ timeout: 20_000 })

    // The console (only watched, never touched) shows the rest and then, by itself, readiness.
    const consolePage = await context.newPage()
    await consolePage.goto('/admin/upstreams')
    const row = consolePage.getByRole('article', { name: 'fake' }).locator('tbody tr').first()
    await expect(row).toHaveAttribute('data-state', 'resting')
    await expect(row.locator('.credential-countdown')).toHaveText(/^in \d+ seconds?$/)
    await expect(row).toHaveAttribute('data-state', 'ready', { timeout: 35_000 - (Date.now() - refusedAt) })

    await chat.bringToFront()
    await send(chat, 'Hello again?')
    await expect(answers(chat).last().locator('.message-answer')).toHaveText('Hello from the fake model.')
    expect(Date.now() - refusedAt).toBeLessThan(35_000)
    await context.close()
  } finally {
    await server.stop()
  }
})
