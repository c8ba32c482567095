import { flushPromises, mount } from '@vue/test-utils'
import { NMessageProvider } from 'naive-ui'
import { createPinia, setActivePinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { defineComponent, h } from 'vue'
import { createMemoryHistory, createRouter } from 'vue-router'
import { i18n } from '@/locales'
import { useAuthStore } from '@/stores/auth'
import SetupView from './SetupView.vue'

const ADMIN = {
  id: 'u1',
  username: 'owner',
  role: 'admin',
  status: 'active',
  is_anonymous: false,
  created_at: '2026-03-01T10:00:00Z',
}
const requests: string[] = []

beforeEach(() => {
  i18n.global.locale.value = 'en-US'
  document.body.innerHTML = ''
  requests.length = 0
  vi.stubGlobal(
    'fetch',
    vi.fn(async (url: string, init: RequestInit = {}) => {
      requests.push(`${init.method ?? 'GET'} ${url}`)
      const body = url === '/api/models' ? { default: 'smollm2-135m', models: [], bundled_demo: true } : ADMIN
      return new Response(JSON.stringify(body), { status: 200, headers: { 'Content-Type': 'application/json' } })
    }),
  )
})
afterEach(() => vi.unstubAllGlobals())

async function render() {
  const pinia = createPinia()
  setActivePinia(pinia)
  useAuthStore().config = {
    mode: 'accounts',
    registration: 'closed',
    setup_required: true,
    version: 'test',
    announcement: null,
  }
  const router = createRouter({
    history: createMemoryHistory(),
    routes: [
      { path: '/', name: 'new', component: { render: () => null } },
      { path: '/setup', name: 'setup', component: SetupView },
      { path: '/login', name: 'login', component: { render: () => null } },
    ],
  })
  await router.push('/setup?token=one-time')
  const App = defineComponent({ render: () => h(NMessageProvider, null, { default: () => h(SetupView) }) })
  const wrapper = mount(App, { global: { plugins: [pinia, i18n, router] }, attachTo: document.body })
  await flushPromises()
  return { wrapper, router }
}

describe('first start', () => {
  it('creates the administrator, then offers to connect an AI service or keep the demo model', async () => {
    const { wrapper: w, router } = await render()
    await w.get('input[aria-label="Password"]').setValue('owner-password-42')
    await w.get('input[aria-label="Confirm password"]').setValue('owner-password-42')
    await w.get('form').trigger('submit')
    await flushPromises()
    expect(requests).toContain('POST /api/auth/setup')
    expect(w.get('h1').text()).toBe('Connect an AI service')
    expect(router.currentRoute.value.fullPath).toBe('/setup?step=connect') // a reload stays on this step
    expect(w.find('input[aria-label="API key"]').exists()).toBe(true)

    const keep = w.findAll('button').find((b) => b.text() === 'Keep the offline demo model for now')!
    await keep.trigger('click')
    await flushPromises()
    expect(requests.at(-1)).toBe('GET /api/models')
    expect(router.currentRoute.value.path).toBe('/')
    w.unmount()
  })
})
