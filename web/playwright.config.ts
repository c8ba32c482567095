import { defineConfig } from '@playwright/test'
import { WORKERS } from './e2e/state'

/**
 * E2E against the real server (a subprocess) and the fake upstream, both started by
 * e2e/global-setup.ts on free loopback ports. Debian's Chromium; nothing is downloaded.
 */
export default defineConfig({
  testDir: './e2e',
  outputDir: process.env.E2E_OUTPUT_DIR ?? './test-results/artifacts',
  globalSetup: './e2e/global-setup.ts',
  // Each worker has its own server and upstream (e2e/state.ts); a file runs on one worker.
  workers: WORKERS,
  fullyParallel: false,
  retries: process.env.CI ? 1 : 0,
  timeout: 60_000,
  expect: { timeout: 10_000 },
  reporter: [['list']],
  use: {
    browserName: 'chromium',
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    },
    // The PWA worker would cache between tests; the PWA spec opens its own context that allows it.
    serviceWorkers: 'block',
    viewport: { width: 1280, height: 800 },
    locale: 'en-US',
    colorScheme: 'light',
    trace: 'retain-on-failure',
    screenshot: 'only-on-failure',
  },
})
