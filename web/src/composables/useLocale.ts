/** The UI language: the saved choice or the browser's; keeps <html lang> and naive-ui in step. */
import {
  dateDeDE,
  dateEnUS,
  dateEsES,
  dateFrFR,
  dateJaJP,
  dateKoKR,
  dateRuRU,
  dateViVN,
  dateZhCN,
  dateZhTW,
  deDE,
  enUS,
  esES,
  frFR,
  jaJP,
  koKR,
  ruRU,
  viVN,
  zhCN,
  zhTW,
  type NDateLocale,
  type NLocale,
} from 'naive-ui'
import { computed, watchEffect, type ComputedRef } from 'vue'
import { i18n, resolveLocale, type LocaleCode } from '@/locales'
import { usePrefsStore } from '@/stores/prefs'

const BASE: Record<LocaleCode, [NLocale, NDateLocale]> = {
  'zh-CN': [zhCN, dateZhCN],
  'zh-TW': [zhTW, dateZhTW],
  'en-US': [enUS, dateEnUS],
  'ja-JP': [jaJP, dateJaJP],
  'ko-KR': [koKR, dateKoKR],
  'ru-RU': [ruRU, dateRuRU],
  'es-ES': [esES, dateEsES],
  'fr-FR': [frFR, dateFrFR],
  'de-DE': [deDE, dateDeDE],
  'vi-VN': [viVN, dateViVN],
}

/**
 * naive-ui's own words follow the UI language, except its generic placeholders ("Please Input",
 * "Ввести", "Please Select"): every field here has a label, so an empty box says more than those.
 */
export function naiveLocaleFor(code: LocaleCode): NLocale {
  const base = BASE[code][0]
  return {
    ...base,
    Input: { ...base.Input, placeholder: '' },
    InputNumber: { ...base.InputNumber, placeholder: '' },
    Select: { ...base.Select, placeholder: '' },
  }
}

const NAIVE = Object.fromEntries(
  (Object.keys(BASE) as LocaleCode[]).map((code) => [code, [naiveLocaleFor(code), BASE[code][1]]]),
) as Record<LocaleCode, [NLocale, NDateLocale]>

export interface LocaleState {
  locale: ComputedRef<LocaleCode>
  naiveLocale: ComputedRef<NLocale>
  naiveDateLocale: ComputedRef<NDateLocale>
}

export function useLocale(): LocaleState {
  const prefs = usePrefsStore()
  const locale = computed(() => resolveLocale(prefs.locale))
  watchEffect(() => {
    i18n.global.locale.value = locale.value
    document.documentElement.lang = locale.value
  })
  return {
    locale,
    naiveLocale: computed(() => NAIVE[locale.value][0]),
    naiveDateLocale: computed(() => NAIVE[locale.value][1]),
  }
}
