import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

export interface E2EState {
  url: string
  upstreamUrl: string
  workDir: string
  dataDir: string
  chatgate: string
  serverLog: string
}

/**
 * Playwright workers, each with its own fake upstream and ChatGate server (e2e/global-setup.ts):
 * the suite waits on pages and streams far more than it computes, so two share 2 cores well, and
 * tests that reconfigure the upstream or the server's settings never meet. E2E_WORKERS=1 runs
 * one file at a time against one server.
 */
export const WORKERS = Math.max(1, Number(process.env.E2E_WORKERS ?? 2))

/** The worker this process is (Playwright's TEST_PARALLEL_INDEX); undefined in the runner. */
export const WORKER: string | undefined = process.env.TEST_PARALLEL_INDEX

/** A log or server name, told apart per worker. */
export function perWorker(name: string): string {
  return WORKER === undefined ? name : `${name}-w${WORKER}`
}

/** E2E_STATE_FILE lets two runs on one checkout keep their servers apart. Holds one E2EState per worker. */
export const STATE_FILE =
  process.env.E2E_STATE_FILE ?? resolve(dirname(fileURLToPath(import.meta.url)), '../test-results/e2e-state.json')
export const ADMIN = { username: 'admin', password: 'e2e-admin-password-1' }
