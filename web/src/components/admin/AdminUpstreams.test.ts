import { flushPromises, mount } from '@vue/test-utils'
import { NMessageProvider } from 'naive-ui'
import { createPinia, setActivePinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { defineComponent, h } from 'vue'
import { createMemoryHistory, createRouter } from 'vue-router'
import type { CredentialStatus, ProviderStatus } from '@/api/types'
import { i18n } from '@/locales'
import AdminUpstreams from './AdminUpstreams.vue'
import UpstreamNotice from './UpstreamNotice.vue'

const NOW = Date.parse('2026-03-01T10:00:00Z')
let providers: ProviderStatus[] = []
const posts: string[] = []

function credential(patch: Partial<CredentialStatus>): CredentialStatus {
  return {
    name: 'key-1', concurrency: 4, in_flight: 0, requests: 7, cooling_down_seconds: 0, failing: false, state: 'ready',
    last_error: null, last_error_at: null, next_try_at: null, rests: 0, ...patch,
  }
}

function resting(): ProviderStatus[] {
  return [{
    name: 'deepseek', kind: 'openai', models: ['deepseek-reasoner'], queue_length: 0, usable: false,
    credentials: [credential({
      state: 'resting', failing: true, rests: 2, last_error: 'Authentication Fails (key sk-***)',
      last_error_at: '2026-03-01T09:59:50Z', next_try_at: '2026-03-01T10:00:25Z',
    })],
  }]
}

async function render(path: string) {
  const pinia = createPinia()
  setActivePinia(pinia)
  const router = createRouter({
    history: createMemoryHistory(),
    routes: [
      { path: '/', name: 'new', component: { render: () => null } },
      { path: '/admin/:tab?', name: 'admin', component: { render: () => null } },
    ],
  })
  await router.push(path)
  const Wrapper = defineComponent({
    render: () => h(NMessageProvider, null, { default: () => [h(UpstreamNotice), path.startsWith('/admin') ? h(AdminUpstreams) : null] }),
  })
  const wrapper = mount(Wrapper, { global: { plugins: [pinia, i18n, router] }, attachTo: document.body })
  await flushPromises()
  return wrapper
}

beforeEach(() => {
  i18n.global.locale.value = 'en-US'
  document.body.innerHTML = ''
  posts.length = 0
  vi.useFakeTimers({ toFake: ['Date', 'setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] })
  vi.setSystemTime(NOW)
  vi.stubGlobal('fetch', vi.fn(async (input: string, init: RequestInit = {}) => {
    if ((init.method ?? 'GET') === 'POST') {
      posts.push(String(input))
      providers = [{ ...providers[0], usable: true, credentials: [credential({})] }]
      return new Response(null, { status: 204 })
    }
    return new Response(JSON.stringify(providers), { status: 200, headers: { 'Content-Type': 'application/json' } })
  }))
})

afterEach(() => {
  vi.useRealTimers()
  vi.unstubAllGlobals()
})

describe('upstreams in the admin console', () => {
  it('shows a resting credential with its reason, error time and a next try that counts down; "Try now" brings it back', async () => {
    providers = resting()
    const w = await render('/admin/upstreams')
    const row = w.get('tr[data-credential="key-1"]')
    expect(row.attributes('data-state')).toBe('resting')
    expect(row.text()).toContain('Resting')
    expect(row.text()).toContain('Refusals in a row: 2')
    expect(row.text()).toContain('Authentication Fails (key sk-***)')
    expect(row.find('time[datetime="2026-03-01T09:59:50Z"]').exists()).toBe(true)
    expect(row.find('.credential-countdown').text()).toBe('in 25 seconds')
    expect(w.get('.provider-card').classes()).toContain('is-unusable')

    await vi.advanceTimersByTimeAsync(2000)
    expect(row.find('.credential-countdown').text()).toBe('in 23 seconds')

    // On the Upstreams tab itself the notice does not link to it.
    const notice = w.get('.upstream-notice')
    expect(notice.attributes('role')).toBe('status')
    expect(notice.text()).toMatch(/^No usable credential for deepseek: people get an error until \d{1,2}:\d\d:\d\d/)
    expect(notice.find('a').exists()).toBe(false)

    await w.get('button[aria-label="Try now: key-1"]').trigger('click')
    await flushPromises()
    expect(posts).toEqual(['/api/admin/providers/deepseek/credentials/key-1/retry'])
    expect(w.get('tr[data-credential="key-1"]').attributes('data-state')).toBe('ready')
    expect(w.get('tr[data-credential="key-1"]').text()).toContain('Ready')
    expect(w.find('button[aria-label="Try now: key-1"]').exists()).toBe(false)
    expect(w.find('.upstream-notice').exists()).toBe(false)
    w.unmount()
  })

  it('tells an administrator in the chat view, in their language, with a link to the upstreams', async () => {
    i18n.global.locale.value = 'zh-CN'
    providers = resting()
    const w = await render('/')
    const notice = w.get('.upstream-notice')
    expect(notice.attributes('aria-label')).toBe('上游状态')
    expect(notice.text()).toContain('deepseek 没有可用的凭据：在 ')
    expect(notice.get('a').attributes('href')).toBe('/admin/upstreams')
    w.unmount()
  })

  it('says nothing while every provider can answer', async () => {
    providers = [{ ...resting()[0], usable: true, credentials: [credential({})] }]
    const w = await render('/')
    expect(w.find('.upstream-notice').exists()).toBe(false)
    w.unmount()
  })
})
