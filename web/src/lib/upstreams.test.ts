import { describe, expect, it } from 'vitest'
import type { CredentialStatus, ProviderStatus } from '@/api/types'
import { backAt, clockTime, countdown, credentialState, conflictSentence } from './upstreams'

function credential(patch: Partial<CredentialStatus>): CredentialStatus {
  return {
    name: 'key-1',
    concurrency: 4,
    in_flight: 0,
    requests: 0,
    cooling_down_seconds: 0,
    failing: false,
    state: 'ready',
    last_error: null,
    last_error_at: null,
    next_try_at: null,
    rests: 0,
    ...patch,
  }
}

const NOW = Date.parse('2026-03-01T10:00:00Z')

describe('upstream wording', () => {
  it("takes the server's state, and reads an older server's flags", () => {
    expect(credentialState(credential({ state: 'resting' }))).toBe('resting')
    const old = (patch: Partial<CredentialStatus>) => credential({ ...patch, state: undefined as unknown as 'ready' })
    expect(credentialState(old({ failing: true }))).toBe('resting')
    expect(credentialState(old({ cooling_down_seconds: 3 }))).toBe('cooling_down')
    expect(credentialState(old({}))).toBe('ready')
  })

  it('says a provider is back when its first credential is tried again', () => {
    const provider: ProviderStatus = {
      name: 'p',
      kind: 'openai',
      models: [],
      queue_length: 0,
      usable: false,
      credentials: [
        credential({ name: 'a', next_try_at: '2026-03-01T10:05:00Z' }),
        credential({ name: 'b', next_try_at: null }),
        credential({ name: 'c', next_try_at: '2026-03-01T10:00:30Z' }),
      ],
    }
    expect(backAt(provider)).toBe('2026-03-01T10:00:30Z')
    expect(backAt({ ...provider, credentials: [credential({})] })).toBeNull()
  })

  it('counts down in seconds, then minutes, then says now', () => {
    expect(countdown('2026-03-01T10:00:25Z', NOW, 'en-US')).toBe('in 25 seconds')
    expect(countdown('2026-03-01T10:00:24.2Z', NOW, 'en-US')).toBe('in 25 seconds')
    expect(countdown('2026-03-01T10:05:00Z', NOW, 'en-US')).toBe('in 5 minutes')
    expect(countdown('2026-03-01T09:59:59Z', NOW, 'en-US')).toBe('now')
    expect(countdown('2026-03-01T10:00:25Z', NOW, 'zh-CN')).toBe('25秒钟后')
  })

  it('gives the clock time, with the date when it is another day', () => {
    const today = clockTime('2026-03-01T10:00:25Z', NOW, 'en-US')
    expect(today).toMatch(/\d:\d\d:\d\d/)
    expect(clockTime('2026-03-03T10:00:25Z', NOW, 'en-US')).toMatch(/Mar 3, 2026/)
    expect(clockTime('not a date', NOW, 'en-US')).toBe('')
  })
})

describe('conflictSentence', () => {
  const t = (key: string, params: Record<string, unknown> = {}) => `${key} ${JSON.stringify(params)}`
  it.each([
    ["A provider named 'openai' exists already.", 'upstreams.conflictProvider {"name":"openai"}'],
    ["The configuration file has a provider named 'fake' already.", 'upstreams.conflictProvider {"name":"fake"}'],
    ["This provider has a credential named 'key-1' already.", 'upstreams.conflictCredential {"name":"key-1"}'],
    [
      "The model id 'llama3:8b' is offered by 'ollama' already.",
      'upstreams.conflictModel {"model":"llama3:8b","provider":"ollama"}',
    ],
    [
      "This provider's keys were saved for its current address and are only ever sent there. To use another host, add a new provider (or remove the keys first).",
      'upstreams.conflictOrigin {}',
    ],
    ['This provider comes from the configuration file; change it there.', 'upstreams.conflictFromFile {}'],
  ])('%s', (message, expected) => {
    expect(conflictSentence(message, t)).toBe(expected)
  })
  it('leaves any other conflict to the general sentence', () => {
    expect(conflictSentence('This changed in the meantime.', t)).toBeNull()
  })
})
