import { describe, expect, it } from 'vitest'
import { matchLocale, messages } from './index'

function keys(obj: object, prefix = ''): string[] {
  return Object.entries(obj).flatMap(([k, v]) =>
    typeof v === 'string' ? [`${prefix}${k}`] : keys(v as object, `${prefix}${k}.`),
  )
}

function leaves(obj: object): string[] {
  return Object.values(obj).flatMap((v) => (typeof v === 'string' ? [v] : leaves(v as object)))
}

const API_ERROR_CODES = [
  'bad_request',
  'validation_error',
  'body_too_large',
  'unauthenticated',
  'forbidden',
  'csrf_failed',
  'not_found',
  'conflict',
  'rate_limited',
  'quota_exceeded',
  'setup_used',
  'invalid_credentials',
  'registration_closed',
  'invite_invalid',
  'approval_pending',
  'account_disabled',
  'weak_password',
  'username_taken',
  'no_model',
  'model_unavailable',
  'upstream_error',
  'upstream_timeout',
  'upstream_rate_limited',
  'upstream_auth',
  'storage_full',
  'internal_error',
  'input_too_long',
  'model_not_allowed',
  'gone',
  'method_not_allowed',
  'context_too_long',
  'upstream_resting',
  'interrupted',
  'imported_error',
  'storage_unavailable',
  'attachment_too_large',
  'attachment_type',
  'attachment_unreadable',
  'storage_quota',
  'model_cannot_see',
]
// The server's whole list is checked against every locale by tests/unit/test_error_catalogue.py.

describe('locales', () => {
  const reference = keys(messages['en-US']).sort()

  it.each(Object.keys(messages))('%s has exactly the English keys, all non-empty', (code) => {
    const locale = messages[code as keyof typeof messages]
    expect(keys(locale).sort()).toEqual(reference)
    for (const value of leaves(locale)) expect(value.trim().length).toBeGreaterThan(0)
  })

  it.each(Object.keys(messages))('%s keeps the same placeholders', (code) => {
    const locale = messages[code as keyof typeof messages] as unknown as Record<string, Record<string, string>>
    const en = messages['en-US'] as unknown as Record<string, Record<string, string>>
    for (const key of reference) {
      const [group, name] = key.split('.')
      const names = (s: string) => (s.match(/\{\w+\}/g) ?? []).sort()
      expect(names(locale[group][name]), `${code} ${key}`).toEqual(names(en[group][name]))
    }
  })

  it('translates every API error code', () => {
    for (const code of API_ERROR_CODES) expect(messages['en-US'].errors).toHaveProperty(code)
  })

  it('translated locales are really translated', () => {
    for (const code of Object.keys(messages).filter((c) => c !== 'en-US')) {
      const locale = messages[code as keyof typeof messages]
      expect(locale.chat.emptyTitle, code).not.toBe(messages['en-US'].chat.emptyTitle)
      expect(locale.errors.invalid_credentials, code).not.toBe(messages['en-US'].errors.invalid_credentials)
    }
  })

  it('names every quota in every language', () => {
    const names = [
      'requests_per_hour',
      'concurrent_generations',
      'messages_per_day',
      'messages_per_month',
      'tokens_per_day',
      'tokens_per_month',
      'max_input_tokens',
      'allowed_models',
    ] as const
    for (const code of Object.keys(messages).filter((c) => c !== 'en-US')) {
      const locale = messages[code as keyof typeof messages]
      for (const name of names) expect(locale.quota[name], `${code} ${name}`).not.toBe(messages['en-US'].quota[name])
      expect(locale.admin.verdict_buffered, code).not.toBe(messages['en-US'].admin.verdict_buffered)
    }
  })

  it.each([
    [['zh-CN'], 'zh-CN'],
    [['zh'], 'zh-CN'],
    [['zh-TW'], 'zh-TW'],
    [['zh-Hant-HK'], 'zh-TW'],
    [['ja'], 'ja-JP'],
    [['ko-KR'], 'ko-KR'],
    [['de-AT', 'en'], 'de-DE'],
    [['es-MX'], 'es-ES'],
    [['pt-BR', 'fr-CA'], 'fr-FR'],
    [['vi'], 'vi-VN'],
    [['ru'], 'ru-RU'],
    [['pt'], 'en-US'],
    [[], 'en-US'],
  ])('matches %j → %s', (langs, expected) => {
    expect(matchLocale(langs)).toBe(expected)
  })
})
