/** light / dark / follow the system: naive-ui's theme plus the `dark` class Tailwind keys on. */
import { darkTheme, useOsTheme, type GlobalTheme, type GlobalThemeOverrides } from 'naive-ui'
import { computed, watchEffect, type ComputedRef } from 'vue'
import { usePrefsStore } from '@/stores/prefs'

const ACCENT = '#10a37f'

const lightOverrides: GlobalThemeOverrides = {
  common: {
    primaryColor: ACCENT, primaryColorHover: '#0e8f70', primaryColorPressed: '#0b7a5f', primaryColorSuppl: ACCENT,
    borderRadius: '8px', fontFamily: 'var(--cg-font)',
  },
}
const darkOverrides: GlobalThemeOverrides = {
  common: {
    primaryColor: '#19c37d', primaryColorHover: '#2fd08f', primaryColorPressed: '#14a86b', primaryColorSuppl: '#19c37d',
    borderRadius: '8px', fontFamily: 'var(--cg-font)', bodyColor: '#212121', cardColor: '#2a2a2a', modalColor: '#2a2a2a',
    popoverColor: '#2f2f2f',
  },
}

export interface ThemeState {
  isDark: ComputedRef<boolean>
  theme: ComputedRef<GlobalTheme | null>
  overrides: ComputedRef<GlobalThemeOverrides>
}

export function useTheme(): ThemeState {
  const prefs = usePrefsStore()
  const os = useOsTheme()
  const isDark = computed(() => (prefs.theme === 'auto' ? os.value === 'dark' : prefs.theme === 'dark'))
  watchEffect(() => {
    const root = document.documentElement
    root.classList.toggle('dark', isDark.value)
    root.style.colorScheme = isDark.value ? 'dark' : 'light'
    document.querySelector('meta[name="theme-color"]')?.setAttribute('content', isDark.value ? '#212121' : '#ffffff')
  })
  return {
    isDark,
    theme: computed(() => (isDark.value ? darkTheme : null)),
    overrides: computed(() => (isDark.value ? darkOverrides : lightOverrides)),
  }
}
