/** Routes and the sign-in guard. Chat routes need a user; sign-in pages do not; /admin needs an administrator. */
import { createRouter, createWebHistory } from 'vue-router'
import { startAccountSync } from '@/stores/accountSync'
import { useAuthStore } from '@/stores/auth'

declare module 'vue-router' {
  interface RouteMeta {
    public?: boolean
    /** Needs nothing from the session (a shared conversation): no sign-in probe, no app chrome. */
    standalone?: boolean
    admin?: boolean
  }
}

export const ADMIN_TABS = [
  'users',
  'invites',
  'settings',
  'upstreams',
  'prompts',
  'usage',
  'audit',
  'selftest',
] as const
export type AdminTab = (typeof ADMIN_TABS)[number]

export const router = createRouter({
  history: createWebHistory(),
  routes: [
    { path: '/', name: 'new', component: () => import('@/views/ChatView.vue') },
    { path: '/c/:id', name: 'chat', component: () => import('@/views/ChatView.vue') },
    { path: '/account', name: 'account', component: () => import('@/views/AccountView.vue') },
    {
      path: `/admin/:tab(${ADMIN_TABS.join('|')})?`,
      name: 'admin',
      component: () => import('@/views/AdminView.vue'),
      meta: { admin: true },
    },
    {
      path: '/s/:token',
      name: 'shared',
      component: () => import('@/views/SharedView.vue'),
      meta: { public: true, standalone: true },
    },
    { path: '/login', name: 'login', component: () => import('@/views/LoginView.vue'), meta: { public: true } },
    {
      path: '/register',
      name: 'register',
      component: () => import('@/views/RegisterView.vue'),
      meta: { public: true },
    },
    { path: '/setup', name: 'setup', component: () => import('@/views/SetupView.vue'), meta: { public: true } },
    {
      path: '/signin/:outcome(pending|refused|link)',
      name: 'signin-result',
      component: () => import('@/views/SignInResultView.vue'),
      meta: { public: true },
    },
    { path: '/:pathMatch(.*)*', redirect: '/' },
  ],
})

router.beforeEach(async (to) => {
  // A shared conversation is for anyone with the link: it never signs anybody in (not even
  // open mode's anonymous user) and never asks who the visitor is.
  if (to.meta.standalone) return true
  const auth = useAuthStore()
  await auth.init()
  // Profile, prompt library and new-chat defaults follow the account from device to device.
  startAccountSync()
  if (!auth.config) return true // the server is unreachable: App shows the error
  if (to.meta.public) {
    if (auth.user && (to.name === 'login' || to.name === 'register')) return { path: '/' }
    return true
  }
  // Only accounts mode needs an administrator before anyone can sign in.
  if (auth.config.mode === 'accounts' && auth.config.setup_required && !auth.user) return { name: 'setup' }
  if (!auth.user) return { name: 'login', query: to.fullPath !== '/' ? { redirect: to.fullPath } : {} }
  if (to.meta.admin && auth.user.role !== 'admin') return { path: '/' }
  return true
})
