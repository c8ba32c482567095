import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { expect, test } from './fixtures'

const STATIC = resolve(import.meta.dirname ?? '.', '../../src/chatgate/static')

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    return statSync(path).isDirectory() ? files(path) : [path]
  })
}

test('the built app has no inline script and no eval, and is served with a strict CSP', async ({ request }) => {
  const res = await request.get('/')
  const csp = res.headers()['content-security-policy'] ?? ''
  expect(csp).toContain("script-src 'self'")
  expect(csp).not.toMatch(/script-src[^;]*'unsafe-(inline|eval)'/)
  const html = await res.text()
  const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)]
  expect(scripts.length).toBeGreaterThan(0)
  for (const [, attrs, body] of scripts) {
    expect(attrs).toMatch(/\bsrc="\//)
    expect(body.trim()).toBe('')
  }
  expect(html).not.toMatch(/\son[a-z]+=/i)

  for (const file of files(STATIC).filter((f) => /\.(js|html)$/.test(f))) {
    const text = readFileSync(file, 'utf8')
    expect(text, file).not.toMatch(/\beval\s*\(/)
    expect(text, file).not.toMatch(/\bnew\s+Function\s*\(/)
    expect(text, file).not.toMatch(/https?:\/\/(cdn\.|unpkg|jsdelivr|fonts\.googleapis)/)
  }
})
