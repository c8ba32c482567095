/** Routes and the sign-in guard. Chat routes need a user; sign-in pages do not. */
import { createRouter, createWebHistory } from 'vue-router'
import { useAuthStore } from '@/stores/auth'

declare module 'vue-router' {
  interface RouteMeta {
    public?: boolean
  }
}

export const router = createRouter({
  history: createWebHistory(),
  routes: [
    { path: '/', name: 'new', component: () => import('@/views/ChatView.vue') },
    { path: '/c/:id', name: 'chat', component: () => import('@/views/ChatView.vue') },
    { path: '/login', name: 'login', component: () => import('@/views/LoginView.vue'), meta: { public: true } },
    { path: '/register', name: 'register', component: () => import('@/views/RegisterView.vue'), meta: { public: true } },
    { path: '/setup', name: 'setup', component: () => import('@/views/SetupView.vue'), meta: { public: true } },
    { path: '/:pathMatch(.*)*', redirect: '/' },
  ],
})

router.beforeEach(async (to) => {
  const auth = useAuthStore()
  await auth.init()
  if (!auth.config) return true // the server is unreachable: App shows the error
  if (to.meta.public) {
    if (auth.user && (to.name === 'login' || to.name === 'register')) return { path: '/' }
    return true
  }
  // Only accounts mode needs an administrator before anyone can sign in.
  if (auth.config.mode === 'accounts' && auth.config.setup_required && !auth.user) return { name: 'setup' }
  if (!auth.user) return { name: 'login', query: to.fullPath !== '/' ? { redirect: to.fullPath } : {} }
  return true
})
