/**
 * A translated sentence for any error, by the server's stable `code` — pure, so that the quota
 * messages (which limit, when it resets) can be unit-tested in every language.
 */
import { ApiError } from '@/api/client'

export type Translate = (key: string, params?: Record<string, unknown>) => string

export interface ErrorTextContext {
  t: Translate
  /** Whether a translation key exists. */
  te: (key: string) => boolean
  locale: string
  now?: Date
  /** For tests; the browser's own zone otherwise. */
  timeZone?: string
}

const QUOTA_KEYS = new Set([
  'requests_per_hour',
  'concurrent_generations',
  'messages_per_day',
  'messages_per_month',
  'tokens_per_day',
  'tokens_per_month',
  'max_input_tokens',
  'allowed_models',
])

/** "in 5 minutes", "in 3 hours", "tomorrow"… in the reader's language. */
export function relativeTime(target: Date, now: Date, locale: string): string {
  const seconds = Math.round((target.getTime() - now.getTime()) / 1000)
  const rtf = new Intl.RelativeTimeFormat(locale, { numeric: 'auto' })
  const abs = Math.abs(seconds)
  if (abs < 60) return rtf.format(Math.max(1, seconds), 'second')
  if (abs < 90 * 60) return rtf.format(Math.round(seconds / 60), 'minute')
  if (abs < 36 * 3600) return rtf.format(Math.round(seconds / 3600), 'hour')
  return rtf.format(Math.round(seconds / 86400), 'day')
}

/** The clock time of a reset, with the date when it is not within the next day. */
export function resetClock(target: Date, now: Date, locale: string, timeZone?: string): string {
  const far = target.getTime() - now.getTime() > 20 * 3600 * 1000
  return new Intl.DateTimeFormat(locale, {
    ...(far ? { month: 'short', day: 'numeric' } : {}),
    hour: '2-digit',
    minute: '2-digit',
    timeZone,
  }).format(target)
}

/** "It resets at 00:00 (in 5 hours)." */
export function resetSentence(resetsAt: string | Date, ctx: ErrorTextContext): string {
  const target = resetsAt instanceof Date ? resetsAt : new Date(resetsAt)
  if (Number.isNaN(target.getTime())) return ''
  const now = ctx.now ?? new Date()
  return ctx.t('quota.resetsAt', {
    time: resetClock(target, now, ctx.locale, ctx.timeZone),
    relative: relativeTime(target, now, ctx.locale),
  })
}

/** The translated name of a quota ("Messages per day"). */
export function quotaName(name: string, ctx: Pick<ErrorTextContext, 't' | 'te'>): string {
  return QUOTA_KEYS.has(name) && ctx.te(`quota.${name}`) ? ctx.t(`quota.${name}`) : name
}

/** Sentences follow each other with a space, except in Chinese and Japanese. */
function join(locale: string, ...parts: string[]): string {
  return parts.filter(Boolean).join(/^(zh|ja)/i.test(locale) ? '' : ' ')
}

function num(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null
}

/** When the server says it tries again: `retry_at` (ISO time), else `retry_after` seconds from now. */
function retryTarget(details: Record<string, unknown>, retryAfter: number | null, now: Date): Date | null {
  if (typeof details.retry_at === 'string') {
    const at = new Date(details.retry_at)
    if (!Number.isNaN(at.getTime())) return at
  }
  const seconds = num(details.retry_after) ?? retryAfter
  return seconds === null ? null : new Date(now.getTime() + seconds * 1000)
}

/**
 * The server's password rules (security/passwords.py), each in the reader's language; a rule this
 * list does not know is shown as the server wrote it.
 */
const PASSWORD_RULES: [RegExp, string][] = [
  [/at least (\d+) characters/i, 'passwordRules.minLength'],
  [/at most (\d+) characters/i, 'passwordRules.maxLength'],
  [/only spaces/i, 'passwordRules.spaces'],
  [/cannot be the username/i, 'passwordRules.username'],
  [/most common/i, 'passwordRules.common'],
]

/** Which rule a weak password broke, translated ('' without the server's message). */
export function passwordRule(message: string, t: Translate): string {
  for (const [pattern, key] of PASSWORD_RULES) {
    const found = pattern.exec(message)
    if (found) return t(key, { n: found[1] ?? '' })
  }
  return message.trim()
}

export function errorText(error: unknown, ctx: ErrorTextContext): string {
  const { t, te } = ctx
  const code = error instanceof ApiError ? error.code : (error as { code?: string } | null)?.code
  const details = error instanceof ApiError ? error.details : ((error as Record<string, unknown> | null) ?? {})
  const retryAfter = error instanceof ApiError ? error.retryAfter : null

  if (code === 'quota_exceeded' && typeof details.quota === 'string') {
    const name = quotaName(details.quota, ctx)
    const limit = num(details.limit)
    const text =
      details.quota === 'concurrent_generations'
        ? t('quota.exceededConcurrent', { limit: limit ?? '?' })
        : t('quota.exceeded', { name, limit: limit === null ? '?' : limit.toLocaleString(ctx.locale) })
    const resetsAt = typeof details.resets_at === 'string' ? details.resets_at : null
    if (resetsAt) return join(ctx.locale, text, resetSentence(resetsAt, ctx))
    if (retryAfter) return join(ctx.locale, text, t('errors.retryAfter', { seconds: retryAfter }))
    return text
  }
  if (code === 'upstream_resting') {
    // "… They will be tried again automatically. Next try at 14:05 (in 3 minutes)."
    const now = ctx.now ?? new Date()
    const at = retryTarget(details, retryAfter, now)
    // An old error (a reload long after) no longer knows when: say nothing rather than "ago".
    const when =
      at && at.getTime() > now.getTime() - 60_000
        ? t('errors.retryAt', {
            time: resetClock(at, now, ctx.locale, ctx.timeZone),
            relative: relativeTime(at, now, ctx.locale),
          })
        : ''
    return join(ctx.locale, t('errors.upstream_resting'), when)
  }
  if (code === 'input_too_long') {
    const limit = num(details.limit)
    return limit === null
      ? t('errors.input_too_long')
      : t('quota.inputTooLongLimit', { limit: limit.toLocaleString(ctx.locale) })
  }

  const message = error instanceof ApiError ? error.message : ''
  if (code === 'weak_password' && message) return passwordRule(message, t) || t('errors.weak_password')
  // The server names the field and its rule ("username: String should have at most 64 characters").
  if (code === 'validation_error' && message && error instanceof ApiError && error.fields.length) {
    return join(ctx.locale, t('errors.validation_error'), message)
  }

  const text = code && te(`errors.${code}`) ? t(`errors.${code}`) : t('errors.unknown')
  return retryAfter ? join(ctx.locale, text, t('errors.retryAfter', { seconds: retryAfter })) : text
}
