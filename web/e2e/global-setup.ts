/**
 * Starts, for each Playwright worker (e2e/state.ts), a fake OpenAI-compatible upstream and a real
 * ChatGate server on free loopback ports with a fresh data directory, waits for /readyz, creates the first admin through the CLI, and
 * writes what the tests need to test-results/e2e-state.json. Logs go to test-results/logs/ and
 * are printed when startup fails.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { freePort, logDir, python, repoRoot, startChatGate, startProcess, stopProcess, waitFor } from './server'
import { ADMIN, STATE_FILE, WORKERS, type E2EState } from './state'

/** One fake upstream and one ChatGate server with its admin, for the worker numbered `index`. */
async function startPair(index: number): Promise<{ state: E2EState; stop: () => Promise<void> }> {
  const upstreamPort = await freePort()
  const upstreamUrl = `http://127.0.0.1:${upstreamPort}`
  const upstreamLog = join(logDir, `upstream-w${index}.log`)
  const upstream = startProcess(python, ['-m', 'tests.fakes.upstream', '--port', String(upstreamPort)], {
    cwd: repoRoot,
    env: { ...process.env, PYTHONUNBUFFERED: '1' },
    log: upstreamLog,
  })
  await waitFor(`${upstreamUrl}/__control/health`, 30_000, upstream, upstreamLog)

  let server
  try {
    server = await startChatGate({ name: `main-w${index}`, upstreamUrl })
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
  return {
    state,
    stop: async () => {
      await server.stop()
      await stopProcess(upstream)
    },
  }
}

export default async function globalSetup(): Promise<() => Promise<void>> {
  mkdirSync(logDir, { recursive: true })
  const started = await Promise.allSettled(Array.from({ length: WORKERS }, (_, i) => startPair(i)))
  const pairs = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []))
  const stopAll = async () => {
    await Promise.all(pairs.map((p) => p.stop()))
  }
  const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected')
  if (failed) {
    await stopAll()
    throw failed.reason
  }
  mkdirSync(dirname(STATE_FILE), { recursive: true })
  writeFileSync(
    STATE_FILE,
    JSON.stringify(
      pairs.map((p) => p.state),
      null,
      2,
    ),
  )
  return stopAll
}
