import { createPinia } from 'pinia'
import { createApp, watch } from 'vue'
import { setUnauthenticatedHandler } from '@/api/client'
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
watch(() => auth.user?.id ?? null, (id, previous) => {
  if (id === previous) return
  useChatStore().startNew()
  useConversationsStore().reset()
})

setUnauthenticatedHandler(() => {
  if (!auth.user) return
  auth.sessionEnded()
  const current = router.currentRoute.value
  if (!current.meta.public) void router.push({ name: 'login', query: { redirect: current.fullPath } })
})

app.use(router)
app.mount('#app')
