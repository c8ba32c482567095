/** UI preferences: theme, language, send key. Persisted in localStorage. */
import { defineStore } from 'pinia'
import { watch } from 'vue'
import { loadPref, savePref } from './persist'

export type ThemePref = 'light' | 'dark' | 'auto'
export type SendKey = 'enter' | 'ctrl-enter'

export interface PrefsState {
  theme: ThemePref
  /** A locale code, or 'auto' to follow the browser. */
  locale: string
  sendKey: SendKey
  sidebarCollapsed: boolean
}

export function defaultPrefs(): PrefsState {
  return { theme: 'auto', locale: 'auto', sendKey: 'enter', sidebarCollapsed: false }
}

const KEY = 'prefs'

export const usePrefsStore = defineStore('prefs', {
  state: (): PrefsState => {
    const state = loadPref(KEY, defaultPrefs)
    if (!['light', 'dark', 'auto'].includes(state.theme)) state.theme = 'auto'
    if (!['enter', 'ctrl-enter'].includes(state.sendKey)) state.sendKey = 'enter'
    return state
  },
  actions: {
    startPersisting(): void {
      watch(
        () => ({ ...this.$state }),
        (value) => savePref(KEY, value),
        { deep: true },
      )
    },
  },
})
