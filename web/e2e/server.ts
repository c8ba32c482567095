/**
 * Start ChatGate (and read its log) as a subprocess: used by the global setup for the shared
 * server, and by specs that need a server in another sign-in mode.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { perWorker } from './state'

const here = dirname(fileURLToPath(import.meta.url))
export const repoRoot = resolve(here, '../..')
export const logDir = process.env.E2E_LOG_DIR ?? resolve(here, '../test-results/logs')
export const python = process.env.E2E_PYTHON ?? join(repoRoot, '.venv/bin/python')
export const chatgateBin = process.env.E2E_CHATGATE_BIN ?? join(repoRoot, '.venv/bin/chatgate')

/**
 * The environment for `chatgate`: ours without any CHATGATE_* variable (the server refuses
 * unknown ones, and `make e2e` used to set CHATGATE_BIN), plus `extra`.
 */
export function chatgateEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('CHATGATE_')))
  return { ...inherited, PYTHONUNBUFFERED: '1', NO_COLOR: '1', ...extra }
}

export function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const srv = createServer()
    srv.unref()
    srv.on('error', fail)
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address()
      const port = typeof address === 'object' && address ? address.port : 0
      srv.close(() => ok(port))
    })
  })
}

export async function waitFor(url: string, timeoutMs: number, child: ChildProcess, log: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (child.exitCode !== null) break
    try {
      const res = await fetch(url)
      if (res.ok) return
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250))
  }
  let text: string
  try {
    text = readFileSync(log, 'utf8')
  } catch {
    text = '(no log)'
  }
  throw new Error(`${url} did not become ready (exit code ${child.exitCode}).\n--- ${log} ---\n${text.slice(-6000)}`)
}

export function startProcess(
  cmd: string,
  args: string[],
  opts: { cwd: string; env: NodeJS.ProcessEnv; log: string },
): ChildProcess {
  mkdirSync(logDir, { recursive: true })
  const fd = openSync(opts.log, 'w')
  const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env, stdio: ['ignore', fd, fd] })
  child.on('error', (err) => writeFileSync(opts.log, `spawn failed: ${err}\n`, { flag: 'a' }))
  return child
}

export async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return
  child.kill('SIGTERM')
  for (let i = 0; i < 20 && child.exitCode === null; i++) await new Promise((r) => setTimeout(r, 100))
  if (child.exitCode === null) child.kill('SIGKILL')
}

export interface RunningServer {
  url: string
  workDir: string
  dataDir: string
  log: string
  env: NodeJS.ProcessEnv
  process: ChildProcess
  /** Everything the server printed so far (the setup link is in there). */
  output(): string
  /** `chatgate …` against this server's data directory. */
  cli(args: string[], input?: string): { status: number | null; stdout: string; stderr: string }
  stop(): Promise<void>
}

/**
 * A ChatGate server with a fresh data directory and a chatgate.toml pointing at `upstreamUrl`;
 * with `upstreamUrl: null`, no upstream at all (no file, no OPENAI_* variables): the bundled
 * local model answers.
 */
export async function startChatGate(options: {
  name: string
  upstreamUrl: string | null
  env?: Record<string, string>
  /** Extra lines for the credential table, e.g. `concurrency = 1`. */
  credential?: string[]
  /** A port chosen beforehand (an OpenID provider must know the redirect URI first). */
  port?: number
}): Promise<RunningServer> {
  const workDir = mkdtempSync(join(tmpdir(), `chatgate-e2e-${options.name}-`))
  const dataDir = join(workDir, 'data')
  const port = options.port ?? (await freePort())
  const url = `http://127.0.0.1:${port}`
  const upstream = options.upstreamUrl
  if (upstream !== null)
    writeFileSync(
      join(workDir, 'chatgate.toml'),
      [
        'default_model = "fake-model"',
        '[[providers]]',
        'name = "fake"',
        'kind = "openai"',
        `base_url = "${upstream}/v1"`,
        // fake-model-2 accepts images (e2e 32: attached screenshots); fake-model does not.
        'models = ["fake-model", { id = "fake-model-2", vision = true }]',
        '[[providers.credentials]]',
        'api_key = "sk-test"',
        ...(options.credential ?? []),
        '',
      ].join('\n'),
    )
  const env =
    upstream === null
      ? {
          ...Object.fromEntries(Object.entries(chatgateEnv({})).filter(([k]) => !/^(OPENAI_|AUTH_SECRET_KEY)/.test(k))),
          CHATGATE_DATA_DIR: dataDir,
          ...options.env,
        }
      : chatgateEnv({
          CHATGATE_DATA_DIR: dataDir,
          CHATGATE_CONFIG_FILE: join(workDir, 'chatgate.toml'),
          ...options.env,
        })
  const log = join(logDir, `server-${perWorker(options.name)}.log`)
  const child = startProcess(chatgateBin, ['serve', '--host', '127.0.0.1', '--port', String(port)], {
    cwd: workDir,
    env,
    log,
  })
  try {
    await waitFor(`${url}/readyz`, 60_000, child, log)
  } catch (err) {
    await stopProcess(child)
    throw err
  }
  return {
    url,
    workDir,
    dataDir,
    log,
    env,
    process: child,
    // eslint-disable-next-line no-control-regex -- strips the log's ANSI colour codes (ESC [ … m)
    output: () => readFileSync(log, 'utf8').replace(/\x1b\[[0-9;]*m/g, ''),
    cli: (args, input) => {
      const r = spawnSync(chatgateBin, args, { cwd: workDir, env, input, encoding: 'utf8' })
      return { status: r.status, stdout: r.stdout, stderr: r.stderr }
    },
    stop: async () => {
      await stopProcess(child)
      rmSync(workDir, { recursive: true, force: true })
    },
  }
}

/** A server where the bundled local model is the only model, with these accounts (made through the CLI). */
export async function startBundledChatGate(
  name: string,
  users: { username: string; password: string; admin?: boolean }[],
): Promise<RunningServer> {
  const server = await startChatGate({ name, upstreamUrl: null })
  for (const user of users) {
    const added = server.cli(
      ['user', 'add', user.username, ...(user.admin ? ['--admin'] : []), '--password-stdin'],
      `${user.password}\n`,
    )
    if (added.status !== 0) {
      await server.stop()
      throw new Error(`user add ${user.username} failed: ${added.stdout}${added.stderr}`)
    }
  }
  return server
}

export interface RunningProxy {
  url: string
  stop(): Promise<void>
}

/**
 * The test suite's BufferingProxy (tests/fakes/proxies.py) in front of `target`: it holds every
 * response back until it is complete, like a buffering reverse proxy or CDN.
 */
export async function startBufferingProxy(target: string, name = 'buffering-proxy'): Promise<RunningProxy> {
  const log = join(logDir, `${perWorker(name)}.log`)
  const script = [
    'import sys, threading',
    'from tests.fakes.proxies import BufferingProxy',
    'proxy = BufferingProxy(sys.argv[1])',
    'proxy.start()',
    'print("PROXY_URL=" + proxy.url, flush=True)',
    'threading.Event().wait()',
  ].join('\n')
  const child = startProcess(python, ['-c', script, target], {
    cwd: repoRoot,
    env: { ...process.env, PYTHONUNBUFFERED: '1' },
    log,
  })
  const deadline = Date.now() + 20_000
  while (Date.now() < deadline) {
    let text: string
    try {
      text = readFileSync(log, 'utf8')
    } catch {
      text = ''
    }
    const found = /PROXY_URL=(\S+)/.exec(text)
    if (found) return { url: found[1], stop: () => stopProcess(child) }
    if (child.exitCode !== null) throw new Error(`the buffering proxy exited:\n${text}`)
    await new Promise((r) => setTimeout(r, 100))
  }
  await stopProcess(child)
  throw new Error('the buffering proxy did not start')
}
