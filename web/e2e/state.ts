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

/** E2E_STATE_FILE lets two runs on one checkout keep their servers apart. */
export const STATE_FILE =
  process.env.E2E_STATE_FILE ?? resolve(dirname(fileURLToPath(import.meta.url)), '../test-results/e2e-state.json')
export const ADMIN = { username: 'admin', password: 'e2e-admin-password-1' }
