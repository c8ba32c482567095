import { flushPromises, mount } from '@vue/test-utils'
import { createPinia, setActivePinia } from 'pinia'
import { beforeEach, describe, expect, it, vi } from 'vitest'
import type { ImportReport } from '@/api/types'
import { i18n, messages } from '@/locales'
import DataTransfer from './DataTransfer.vue'

const upload = vi.hoisted(() => vi.fn())
vi.mock('@/api/client', async (original) => ({ ...(await original<object>()), uploadImport: upload }))

const REPORT: ImportReport = {
  format: 'chatgpt-web',
  conversations: 1,
  messages: 4,
  conversation_ids: ['c1'],
  counts: { imported: 1, already_imported: 1, changed_since_import: 1, empty: 1 },
  outcomes: [
    {
      title: 'New Chat',
      outcome: 'empty',
      conversation_id: null,
      messages: 0,
      created_at: null,
      updated_at: null,
      notes: {},
    },
    {
      title: 'Python 排序',
      outcome: 'imported',
      conversation_id: 'c1',
      messages: 4,
      created_at: '2023-03-09T12:15:20.123Z',
      updated_at: '2023-03-10T01:02:30Z',
      notes: {},
    },
    {
      title: '旅行计划',
      outcome: 'already_imported',
      conversation_id: 'c0',
      messages: 4,
      created_at: '2023-02-20T01:00:00Z',
      updated_at: '2023-02-20T01:01:20Z',
      notes: { empty_messages: 1 },
    },
    {
      title: 'Changed',
      outcome: 'changed_since_import',
      conversation_id: 'c2',
      messages: 5,
      created_at: null,
      updated_at: '2023-04-05T02:00:00Z',
      notes: { attachments_left_out: 2 },
    },
  ],
  skipped: [{ where: "'New Chat'", reason: 'no messages in the file' }],
}

async function imported(report: ImportReport = REPORT) {
  setActivePinia(createPinia())
  upload.mockReset()
  upload.mockResolvedValue(report)
  const wrapper = mount(DataTransfer, {
    global: {
      plugins: [i18n],
      stubs: { RouterLink: { props: ['to'], template: '<a :data-to="JSON.stringify(to)"><slot /></a>' } },
    },
  })
  const input = wrapper.find('input[type="file"]')
  Object.defineProperty(input.element, 'files', { value: [new File(['{}'], 'chat-store.json')] })
  await input.trigger('change')
  await flushPromises()
  return wrapper
}

beforeEach(() => {
  i18n.global.locale.value = 'en-US'
})

describe('DataTransfer import report', () => {
  it('lists every conversation of the file with its outcome, original date and notes', async () => {
    const w = await imported()
    expect(upload.mock.calls[0][3]).toBe(Intl.DateTimeFormat().resolvedOptions().timeZone)
    const report = w.find('[role="status"]')
    expect(report.text()).toContain('Imported 1 conversations with 4 messages (chatgpt-web).')
    expect(w.findAll('.import-counts li').map((li) => li.text())).toEqual([
      'Already imported: 1',
      'Changed since they were imported: 1',
      'Without messages: 1',
    ])
    expect(report.text()).toContain('delete its copy here and import the file again')
    const items = w.findAll('.import-outcome')
    expect(items.map((li) => li.attributes('data-outcome'))).toEqual([
      'empty',
      'imported',
      'already_imported',
      'changed_since_import',
    ])
    expect(items[0].text()).toContain('Skipped: no messages')
    expect(items[1].text()).toContain('Imported')
    expect(items[1].text()).toContain('Messages: 4 · last active Mar 10, 2023')
    expect(items[1].find('a').attributes('data-to')).toBe(JSON.stringify({ name: 'chat', params: { id: 'c1' } }))
    expect(items[2].text()).toContain('Skipped: already imported')
    expect(items[2].text()).toContain('Empty messages left out: 1')
    expect(items[3].text()).toContain('Images and files left out (text only): 2')
    expect(items[0].find('a').exists()).toBe(false)
  })

  it('says so when nothing in the file is new', async () => {
    const w = await imported({
      ...REPORT,
      conversations: 0,
      messages: 0,
      conversation_ids: [],
      counts: { already_imported: 4 },
      outcomes: REPORT.outcomes.map((o) => ({ ...o, outcome: 'already_imported' as const })),
    })
    expect(w.text()).toContain('Nothing new: every conversation in this file is already here.')
  })

  it.each(Object.keys(messages))('is translated in %s', async (code) => {
    i18n.global.locale.value = code as typeof i18n.global.locale.value
    const text = (await imported()).find('[role="status"]').text()
    expect(text).not.toMatch(/account\.|outcome_|note_|count_/)
  })

  it('shows a long report fifty at a time', async () => {
    const many = Array.from({ length: 120 }, (_, n) => ({
      ...REPORT.outcomes[1],
      title: `Chat ${n}`,
      conversation_id: `c${n}`,
    }))
    const w = await imported({ ...REPORT, outcomes: many })
    expect(w.findAll('.import-outcome')).toHaveLength(50)
    await w.find('.import-report button').trigger('click')
    expect(w.findAll('.import-outcome')).toHaveLength(120)
  })
})
