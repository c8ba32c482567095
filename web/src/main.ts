import { createPinia } from 'pinia'
import { createApp, watch } from 'vue'
import { setUnauthenticatedHandler } from '@/api/client'
import { installA11yPatches } from '@/lib/a11yPatches'
import { rememberSessionEnd } from '@/lib/drafts'
import { i18n } from '@/locales'
import { router } from '@/router'
import { useAuthStore } from '@/stores/auth'
import { useChatStore } from '@/stores/chat'
import { useConversationsStore } from '@/stores/conversations'
import { usePrefsStore } from '@/stores/prefs'
import App from './App.vue'
import './styles/main.css'

const app = createApp(App)
const pinia = createPinia()
app.use(pinia)
app.use(i18n)

usePrefsStore().startPersisting()
const auth = useAuthStore()

// Another user (or nobody) now: forget everything the last one had on screen.
watch(
  () => auth.user?.id ?? null,
  (id, previous) => {
    if (id === previous) return
    useChatStore().startNew()
    useConversationsStore().reset()
  },
)

// The session ended under the tab (signed out elsewhere, the account disabled): the sign-in page
// says so, and the draft in the message box is kept (lib/drafts) for after the sign-in.
setUnauthenticatedHandler((reason) => {
  if (!auth.user) return
  rememberSessionEnd(auth.user.id)
  auth.sessionEnded()
  const current = router.currentRoute.value
  if (!current.meta.public) void router.push({ name: 'login', query: { redirect: current.fullPath, ended: reason } })
})

app.use(router)
app.mount('#app')
installA11yPatches()
