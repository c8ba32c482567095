/**
 * Starts the fake OpenAI-compatible upstream and the real ChatGate server on free loopback ports
 * with a fresh data directory, waits for /readyz, creates the first admin through the CLI, and
 * writes what the tests need to test-results/e2e-state.json. Logs go to test-results/logs/ and
 * are printed when startup fails.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { freePort, logDir, python, repoRoot, startChatGate, startProcess, stopProcess, waitFor } from './server'
import { ADMIN, STATE_FILE, type E2EState } from './state'

export default async function globalSetup(): Promise<() => Promise<void>> {
  mkdirSync(logDir, { recursive: true })
  const upstreamPort = await freePort()
  const upstreamUrl = `http://127.0.0.1:${upstreamPort}`
  const upstreamLog = join(logDir, 'upstream.log')
  const upstream = startProcess(python, ['-m', 'tests.fakes.upstream', '--port', String(upstreamPort)], {
    cwd: repoRoot,
    env: { ...process.env, PYTHONUNBUFFERED: '1' },
    log: upstreamLog,
  })
  await waitFor(`${upstreamUrl}/__control/health`, 30_000, upstream, upstreamLog)

  let server
  try {
    server = await startChatGate({ name: 'main', upstreamUrl })
  } catch (err) {
    await stopProcess(upstream)
    throw err
  }
  const created = server.cli(['user', 'add', ADMIN.username, '--admin', '--password-stdin'], `${ADMIN.password}\n`)
  if (created.status !== 0) {
    await server.stop()
    await stopProcess(upstream)
    throw new Error(`creating the admin failed:\n${created.stdout}\n${created.stderr}`)
  }

  const state: E2EState = {
    url: server.url,
    upstreamUrl,
    workDir: server.workDir,
    dataDir: server.dataDir,
    chatgate: process.env.E2E_CHATGATE_BIN ?? join(repoRoot, '.venv/bin/chatgate'),
    serverLog: server.log,
  }
  mkdirSync(dirname(STATE_FILE), { recursive: true })
  writeFileSync(STATE_FILE, JSON.stringify(state, null, 2))

  return async () => {
    await server.stop()
    await stopProcess(upstream)
  }
}
