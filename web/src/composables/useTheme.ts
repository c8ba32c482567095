/** light / dark / follow the system: naive-ui's theme plus the `dark` class Tailwind keys on. */
import { darkTheme, useOsTheme, type GlobalTheme, type GlobalThemeOverrides } from 'naive-ui'
import { computed, watchEffect, type ComputedRef } from 'vue'
import { usePrefsStore } from '@/stores/prefs'

/**
 * The brand green #10a37f is 3.2:1 on white: too light for text and for white text on a button.
 * Light theme uses a deeper green (5.6:1 on white, 4.5:1 on its own 15 % tint) and status colours
 * dark enough for tags and notes; dark theme's colours are light enough on #212121.
 */
const ACCENT = '#0a765b'

const lightOverrides: GlobalThemeOverrides = {
  common: {
    primaryColor: ACCENT,
    primaryColorHover: '#0c8466',
    primaryColorPressed: '#086049',
    primaryColorSuppl: ACCENT,
    successColor: ACCENT,
    successColorHover: '#0c8466',
    successColorPressed: '#086049',
    successColorSuppl: ACCENT,
    warningColor: '#8f5b00',
    warningColorHover: '#a36a06',
    warningColorPressed: '#774b00',
    warningColorSuppl: '#8f5b00',
    errorColor: '#c0283f',
    errorColorHover: '#d03050',
    errorColorPressed: '#a51f34',
    errorColorSuppl: '#c0283f',
    infoColor: '#1a66c2',
    infoColorHover: '#2a76d2',
    infoColorPressed: '#1455a3',
    infoColorSuppl: '#1a66c2',
    // naive's third text colour (menu group titles, hints) is 4.2:1 on white.
    textColor3: '#63686e',
    borderRadius: '8px',
    fontFamily: 'var(--cg-font)',
  },
  Empty: { textColor: '#6b6b6b' },
}
const darkOverrides: GlobalThemeOverrides = {
  common: {
    primaryColor: '#19c37d',
    primaryColorHover: '#2fd08f',
    primaryColorPressed: '#14a86b',
    primaryColorSuppl: '#19c37d',
    borderRadius: '8px',
    fontFamily: 'var(--cg-font)',
    bodyColor: '#212121',
    cardColor: '#2a2a2a',
    modalColor: '#2a2a2a',
    popoverColor: '#2f2f2f',
  },
  Empty: { textColor: '#a3a3a3' },
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
