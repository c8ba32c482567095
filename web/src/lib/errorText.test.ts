import { createI18n } from 'vue-i18n'
import { describe, expect, it } from 'vitest'
import { ApiError } from '@/api/client'
import { messages } from '@/locales'
import { errorText, relativeTime, resetClock, type ErrorTextContext } from './errorText'

function ctx(locale: string, now = new Date('2026-03-10T21:30:00Z')): ErrorTextContext {
  const i18n = createI18n({
    legacy: false,
    locale,
    fallbackLocale: 'en-US',
    messages,
    missingWarn: false,
    fallbackWarn: false,
  })
  const g = i18n.global
  return { t: (key, params) => g.t(key, params ?? {}), te: (key) => g.te(key), locale, now, timeZone: 'UTC' }
}

const quota = (name: string, limit: number, resetsAt?: string, retryAfter: number | null = 9000) =>
  new ApiError(429, 'quota_exceeded', 'You have reached your limit…', [], retryAfter, {
    quota: name,
    limit,
    ...(resetsAt ? { resets_at: resetsAt } : {}),
  })

describe('errorText', () => {
  it('names the quota, its limit and when it resets, in English', () => {
    const text = errorText(quota('messages_per_day', 20, '2026-03-11T00:00:00+00:00'), ctx('en-US'))
    expect(text).toBe('You have reached your limit: Messages per day, 20. It resets at 12:00 AM (in 3 hours).')
  })

  it('says the same in Chinese and German, with their own clock and numbers', () => {
    expect(errorText(quota('tokens_per_month', 100000, '2026-04-01T00:00:00Z'), ctx('zh-CN'))).toBe(
      '你已达到额度上限：每月 Token 数，100,000。将于 4月1日 00:00（21天后）重置。',
    )
    expect(errorText(quota('requests_per_hour', 5, '2026-03-10T21:47:00Z'), ctx('de-DE'))).toBe(
      'Sie haben Ihr Limit erreicht: Anfragen pro Stunde, 5. Es wird um 21:47 zurückgesetzt (in 17 Minuten).',
    )
  })

  it('translates every quota name in every language', () => {
    for (const locale of Object.keys(messages)) {
      for (const name of [
        'requests_per_hour',
        'concurrent_generations',
        'messages_per_day',
        'messages_per_month',
        'tokens_per_day',
        'tokens_per_month',
      ]) {
        const text = errorText(quota(name, 3, '2026-03-11T00:00:00Z'), ctx(locale))
        expect(text, `${locale} ${name}`).not.toContain(name)
        expect(text, `${locale} ${name}`).not.toMatch(/quota\.|admin\.|\{/)
      }
    }
  })

  it('asks to wait for a running answer when too many are being written', () => {
    const error = new ApiError(429, 'quota_exceeded', '…', [], 5, { quota: 'concurrent_generations', limit: 1 })
    expect(errorText(error, ctx('en-US'))).toBe(
      'You already have 1 answers being written at the same time, your limit. Wait for one to finish. Try again in 5 s.',
    )
  })

  it('explains an input that is too long and a model that is not allowed', () => {
    expect(
      errorText(
        new ApiError(413, 'input_too_long', 'This message… about 900 tokens; your limit is 100.'),
        ctx('en-US'),
      ),
    ).toMatch(/^This message with its context is longer than you may send\./)
    expect(errorText(new ApiError(413, 'input_too_long', '…', [], null, { limit: 100 }), ctx('en-US'))).toMatch(
      /longer than the 100 tokens you may send/,
    )
    expect(errorText(new ApiError(403, 'model_not_allowed', '…'), ctx('ja-JP'))).toBe(
      messages['ja-JP'].errors.model_not_allowed,
    )
  })

  it('falls back to the code, then to a generic sentence, adding Retry-After', () => {
    expect(errorText(new ApiError(429, 'rate_limited', '…', [], 30), ctx('en-US'))).toBe(
      'Too many requests. Try again in 30 s.',
    )
    expect(errorText({ code: 'upstream_error', message: 'x' }, ctx('en-US'))).toBe(
      'The model provider returned an error.',
    )
    expect(errorText(new ApiError(500, 'something_new', '…'), ctx('en-US'))).toBe('Something went wrong.')
    // A quota error without details (an older server) still reads well.
    expect(errorText(new ApiError(429, 'quota_exceeded', '…', [], 60), ctx('en-US'))).toBe(
      'You have used your quota for now. Try again in 60 s.',
    )
  })

  it('says when resting credentials are tried again, from retry_at or retry_after', () => {
    const resting = (details: Record<string, unknown>, retryAfter: number | null = null) =>
      new ApiError(503, 'upstream_resting', 'The AI service refused…', [], retryAfter, details)
    expect(errorText(resting({ retry_after: 180, retry_at: '2026-03-10T21:33:00+00:00' }), ctx('en-US'))).toBe(
      "The model provider refused the server's credentials. They will be tried again automatically; " +
        'the administrator has been told. Next try at 09:33 PM (in 3 minutes).',
    )
    expect(errorText(resting({}, 45), ctx('de-DE'))).toBe(
      `${messages['de-DE'].errors.upstream_resting} Nächster Versuch um 21:30 (in 45 Sekunden).`,
    )
    // The same fields on a stream's error event (no ApiError): the Chinese sentence, no space.
    expect(errorText({ code: 'upstream_resting', message: '…', retry_at: '2026-03-10T23:30:00Z' }, ctx('zh-CN'))).toBe(
      `${messages['zh-CN'].errors.upstream_resting}下次尝试：23:30（2小时后）。`,
    )
    // Long past (a reload much later): no "ago".
    expect(errorText({ code: 'upstream_resting', message: '…', retry_at: '2026-03-10T08:00:00Z' }, ctx('en-US'))).toBe(
      messages['en-US'].errors.upstream_resting,
    )
  })

  it('tells what to do with a conversation too long for the model, in every language', () => {
    for (const locale of Object.keys(messages)) {
      const text = errorText(
        { code: 'context_too_long', message: 'This message is too long for the local model…' },
        ctx(locale),
      )
      expect(text, locale).toBe(messages[locale as keyof typeof messages].errors.context_too_long)
      expect(text, locale).not.toBe(messages['en-US'].errors.unknown)
    }
    expect(errorText({ code: 'context_too_long', message: '…' }, ctx('en-US'))).toMatch(
      /new chat.*shorten.*context messages/,
    )
  })

  it('shows the rule a weak password broke, as the server states it, in every language', () => {
    const weak = (message: string) => new ApiError(422, 'weak_password', message)
    expect(errorText(weak('Use at least 8 characters.'), ctx('en-US'))).toBe('Use at least 8 characters.')
    expect(errorText(weak('The password cannot be the username.'), ctx('en-US'))).toBe(
      'The password cannot be the username.',
    )
    for (const locale of Object.keys(messages)) {
      const text = errorText(weak('Use at least 8 characters.'), ctx(locale))
      expect(text, locale).toContain('8')
      expect(text, locale).not.toBe(messages[locale as keyof typeof messages].errors.weak_password)
      expect(text, locale).not.toMatch(/passwordRules\.|\{/)
    }
    // A rule this version does not know: the server's own words rather than "too weak".
    expect(errorText(weak('Use a longer passphrase.'), ctx('de-DE'))).toBe('Use a longer passphrase.')
    expect(errorText(new ApiError(422, 'weak_password', ''), ctx('en-US'))).toBe(messages['en-US'].errors.weak_password)
  })

  it('adds the field and rule the server names to a validation error', () => {
    const error = new ApiError(422, 'validation_error', 'username: String should have at most 64 characters', [
      { loc: ['body', 'username'], message: 'String should have at most 64 characters' },
    ])
    expect(errorText(error, ctx('en-US'))).toBe(
      'Some fields are not valid. username: String should have at most 64 characters',
    )
  })

  it('formats reset times relative to now', () => {
    const now = new Date('2026-03-10T12:00:00Z')
    expect(relativeTime(new Date('2026-03-10T12:00:30Z'), now, 'en-US')).toBe('in 30 seconds')
    expect(relativeTime(new Date('2026-03-10T12:45:00Z'), now, 'en-US')).toBe('in 45 minutes')
    expect(relativeTime(new Date('2026-03-11T00:00:00Z'), now, 'en-US')).toBe('in 12 hours')
    expect(relativeTime(new Date('2026-04-01T00:00:00Z'), now, 'en-US')).toBe('in 22 days')
    expect(resetClock(new Date('2026-03-10T18:05:00Z'), now, 'en-GB', 'UTC')).toBe('18:05')
    expect(resetClock(new Date('2026-04-01T00:00:00Z'), now, 'en-GB', 'UTC')).toBe('1 Apr, 00:00')
  })
})
