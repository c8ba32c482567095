import { mount } from '@vue/test-utils'
import { describe, expect, it } from 'vitest'
import { i18n } from '@/locales'
import ToolCalls from './ToolCalls.vue'

describe("an answer's tool calls", () => {
  it('are folded disclosures, "Called <name>", with the arguments as indented JSON', async () => {
    const w = mount(ToolCalls, {
      props: {
        parts: [
          { type: 'tool_call', id: 'call_1', name: 'get_weather', arguments: '{"city":"Paris"}' },
          { type: 'tool_call', id: 'call_2', name: 'get_time', arguments: '' },
          { type: 'other', value: 1 },
        ],
      },
      global: { plugins: [i18n] },
    })
    const details = w.findAll('details')
    expect(details).toHaveLength(2)
    expect(details[0].attributes('open')).toBeUndefined()
    expect(details.map((d) => d.get('summary').text())).toEqual(['Called get_weather', 'Called get_time'])
    expect(details[0].get('pre code').text()).toBe('{\n  "city": "Paris"\n}')
    expect(details[1].get('pre code').text()).toBe('{}')
  })

  it('draw nothing without calls', () => {
    const w = mount(ToolCalls, { props: { parts: [] }, global: { plugins: [i18n] } })
    expect(w.find('.tool-calls').exists()).toBe(false)
  })
})
