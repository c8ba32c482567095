/** How the admin console words a credential's state and its next try. */
import type { CredentialState, CredentialStatus, ProviderStatus } from '@/api/types'

export function credentialState(c: CredentialStatus): CredentialState {
  if (c.state) return c.state
  // A server from before credentials healed: `failing` meant refused.
  if (c.failing) return 'resting'
  return c.cooling_down_seconds > 0 ? 'cooling_down' : 'ready'
}

/** When the first of a provider's credentials is tried again (ISO), or null when none says. */
export function backAt(provider: ProviderStatus): string | null {
  let first: string | null = null
  for (const c of provider.credentials) {
    if (!c.next_try_at || Number.isNaN(Date.parse(c.next_try_at))) continue
    if (first === null || Date.parse(c.next_try_at) < Date.parse(first)) first = c.next_try_at
  }
  return first
}

/** "in 25 seconds", "in 3 minutes", "now", in the reader's language. */
export function countdown(iso: string, now: number, locale: string): string {
  const seconds = Math.ceil((Date.parse(iso) - now) / 1000)
  const format = new Intl.RelativeTimeFormat(locale, { numeric: 'auto' })
  if (!(seconds > 0)) return format.format(0, 'second')
  if (seconds < 120) return format.format(seconds, 'second')
  return format.format(Math.round(seconds / 60), 'minute')
}

/** A moment as a clock time, with the date when it is not today. */
export function clockTime(iso: string, now: number, locale: string): string {
  const date = new Date(iso)
  if (Number.isNaN(date.getTime())) return ''
  const sameDay = date.toDateString() === new Date(now).toDateString()
  const options: Intl.DateTimeFormatOptions = sameDay
    ? { timeStyle: 'medium' }
    : { dateStyle: 'medium', timeStyle: 'short' }
  return new Intl.DateTimeFormat(locale, options).format(date)
}

/**
 * The console's 409 answers, each in the reader's language (the server's sentence is English):
 * a provider or key name taken, a model id another provider offers, keys that would move to
 * another address, a provider from the configuration file. Null for any other conflict.
 */
const CONFLICTS: [RegExp, string, string[]][] = [
  [/provider named ['"](.+?)['"]/, 'upstreams.conflictProvider', ['name']],
  [/credential named ['"](.+?)['"]/, 'upstreams.conflictCredential', ['name']],
  [/model id ['"](.+?)['"] is offered by ['"](.+?)['"]/, 'upstreams.conflictModel', ['model', 'provider']],
  [/only ever sent there/, 'upstreams.conflictOrigin', []],
  [/comes from the configuration file/, 'upstreams.conflictFromFile', []],
]

export function conflictSentence(
  message: string,
  t: (key: string, params?: Record<string, unknown>) => string,
): string | null {
  for (const [pattern, key, names] of CONFLICTS) {
    const found = pattern.exec(message)
    if (found) return t(key, Object.fromEntries(names.map((n, i) => [n, found[i + 1]])))
  }
  return null
}
