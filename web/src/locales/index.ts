/** vue-i18n with every locale bundled (a few KB each); the choice follows the browser unless set. */
import { createI18n } from 'vue-i18n'
import deDE from './de-DE'
import enUS from './en-US'
import esES from './es-ES'
import frFR from './fr-FR'
import jaJP from './ja-JP'
import koKR from './ko-KR'
import ruRU from './ru-RU'
import viVN from './vi-VN'
import zhCN from './zh-CN'
import zhTW from './zh-TW'

export const LOCALES = [
  { code: 'zh-CN', name: '简体中文' },
  { code: 'zh-TW', name: '繁體中文' },
  { code: 'en-US', name: 'English' },
  { code: 'ja-JP', name: '日本語' },
  { code: 'ko-KR', name: '한국어' },
  { code: 'ru-RU', name: 'Русский' },
  { code: 'es-ES', name: 'Español' },
  { code: 'fr-FR', name: 'Français' },
  { code: 'de-DE', name: 'Deutsch' },
  { code: 'vi-VN', name: 'Tiếng Việt' },
] as const

export type LocaleCode = (typeof LOCALES)[number]['code']

export const messages = {
  'zh-CN': zhCN,
  'zh-TW': zhTW,
  'en-US': enUS,
  'ja-JP': jaJP,
  'ko-KR': koKR,
  'ru-RU': ruRU,
  'es-ES': esES,
  'fr-FR': frFR,
  'de-DE': deDE,
  'vi-VN': viVN,
}

export function isLocale(code: string): code is LocaleCode {
  return LOCALES.some((l) => l.code === code)
}

/** The best supported locale for the browser's language list. */
export function matchLocale(languages: readonly string[]): LocaleCode {
  for (const raw of languages) {
    const lang = raw.toLowerCase()
    if (lang.startsWith('zh')) {
      return /(tw|hk|mo|hant)/.test(lang) ? 'zh-TW' : 'zh-CN'
    }
    const base = lang.split('-')[0]
    const found = LOCALES.find((l) => l.code.toLowerCase().split('-')[0] === base)
    if (found) return found.code
  }
  return 'en-US'
}

export function resolveLocale(pref: string): LocaleCode {
  if (isLocale(pref)) return pref
  const langs =
    typeof navigator === 'undefined' ? [] : navigator.languages?.length ? navigator.languages : [navigator.language]
  return matchLocale(langs)
}

export const i18n = createI18n({
  legacy: false,
  locale: 'en-US',
  fallbackLocale: 'en-US',
  messages,
  missingWarn: false,
  fallbackWarn: false,
})
