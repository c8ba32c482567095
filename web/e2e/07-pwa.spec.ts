import { expect, shot, state, test } from './fixtures'

test('the manifest and the service worker register, with name, icons and start URL', async ({ browser, request }) => {
  const manifestRes = await request.get('/manifest.webmanifest')
  expect(manifestRes.ok()).toBe(true)
  const manifest = await manifestRes.json()
  expect(manifest.name).toBe('ChatGate')
  expect(manifest.short_name).toBeTruthy()
  expect(manifest.start_url).toBe('/')
  expect(manifest.display).toBe('standalone')
  const sizes = manifest.icons.map((i: { sizes: string }) => i.sizes)
  expect(sizes).toEqual(expect.arrayContaining(['192x192', '512x512']))
  expect(manifest.icons.some((i: { purpose?: string }) => i.purpose === 'maskable')).toBe(true)
  for (const icon of manifest.icons) {
    const res = await request.get(icon.src)
    expect(res.headers()['content-type']).toContain('image/png')
  }

  // The worker precaches the app, never the API.
  const sw = await (await request.get('/sw.js')).text()
  expect(sw).toContain('index.html')
  expect(sw).toMatch(/\\\/api\\\//)
  expect(sw).not.toMatch(/url:\s*"\/?api\//)

  const context = await browser.newContext({ serviceWorkers: 'allow', baseURL: state.url })
  const page = await context.newPage()
  await page.goto('/')
  const html = await page.content()
  expect(html).toContain('rel="manifest"')
  const scope = await page.evaluate(async () => {
    const registration = await navigator.serviceWorker.ready
    return registration.scope
  })
  expect(scope).toBe(`${state.url}/`)
  await expect
    .poll(() => page.evaluate(() => Boolean(navigator.serviceWorker.controller)), { timeout: 15_000 })
    .toBe(true)

  // With the worker in control, API calls still go to the server (a 401, not a cached page).
  const status = await page.evaluate(async () => (await fetch('/api/auth/me')).status)
  expect(status).toBe(401)
  await shot(page, '07-pwa')
  await context.close()
})
