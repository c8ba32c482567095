/**
 * What follows the account from device to device — profile, prompt library, new-chat defaults —
 * is read from the server when someone signs in, read again when a tab comes back into view
 * (another device may have changed it), and forgotten when they sign out. The first time, a
 * prompt library this browser kept in localStorage moves up to the account.
 */
import { watch } from 'vue'
import { i18n } from '@/locales'
import { useAuthStore } from './auth'
import { defaultSettings, useChatStore } from './chat'
import { useChatDefaultsStore } from './chatDefaults'
import { useProfileStore } from './profile'
import { usePromptsStore } from './prompts'

/** Do not read everything again for a tab that was hidden only briefly. */
const REFRESH_AFTER_MS = 30_000

export function refreshAccount(): Promise<unknown> {
  const chat = useChatStore()
  const defaults = useChatDefaultsStore()
  const prompts = usePromptsStore()
  return Promise.allSettled([
    useProfileStore().load(),
    defaults.load().then((settings) => {
      // The new-chat screen starts from the account's defaults (unless a chat is open).
      if (!chat.conversationId) chat.draftSettings = { ...defaultSettings(), ...settings }
    }),
    prompts.loaded ? prompts.load() : prompts.migrateLocal().finally(() => prompts.load()),
    prompts.loadShared(i18n.global.locale.value),
  ])
}

let started = false

/** Once per page (the router's guard calls it as soon as it knows who is signed in). */
export function startAccountSync(): void {
  if (started) return
  started = true
  const auth = useAuthStore()
  let lastRefresh = 0

  watch(
    () => auth.user?.id ?? null,
    (id) => {
      useProfileStore().reset()
      useChatDefaultsStore().reset()
      usePromptsStore().reset()
      if (!id) return
      lastRefresh = Date.now()
      void refreshAccount()
    },
    { immediate: true },
  )

  watch(
    () => i18n.global.locale.value,
    (locale) => {
      if (auth.user)
        void usePromptsStore()
          .loadShared(locale)
          .catch(() => undefined)
    },
  )

  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState !== 'visible' || !auth.user || Date.now() - lastRefresh < REFRESH_AFTER_MS) return
    lastRefresh = Date.now()
    void refreshAccount()
  })
}
