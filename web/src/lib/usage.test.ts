import { describe, expect, it } from 'vitest'
import type { UsageRow } from '@/api/types'
import { compact, daysBetween, lastDays, niceMax, perCategory, perDay, totals } from './usage'

const row = (over: Partial<UsageRow>): UsageRow => ({
  requests: 1,
  prompt_tokens: 10,
  completion_tokens: 20,
  cost_usd: 0.001,
  ...over,
})

describe('usage aggregation', () => {
  it('lists every day of the period, zero where nothing happened', () => {
    expect(daysBetween('2026-02-27', '2026-03-02')).toEqual(['2026-02-27', '2026-02-28', '2026-03-01', '2026-03-02'])
    expect(daysBetween('2026-03-02', '2026-03-01')).toEqual([])
    const bars = perDay(
      [row({ day: '2026-02-28', requests: 3 }), row({ day: '2026-03-02', prompt_tokens: 5, completion_tokens: 7 })],
      '2026-02-27',
      '2026-03-02',
      'tokens',
    )
    expect(bars.map((b) => [b.label, b.value])).toEqual([
      ['2026-02-27', 0],
      ['2026-02-28', 30],
      ['2026-03-01', 0],
      ['2026-03-02', 12],
    ])
    expect(bars[3].parts).toEqual([5, 7])
    expect(perDay([row({ day: '2026-02-28', requests: 3 })], '2026-02-28', '2026-02-28', 'requests')[0].value).toBe(3)
  })

  it('adds up rows of the same day from several users or models', () => {
    const bars = perDay(
      [row({ day: '2026-01-01', user: 'a' }), row({ day: '2026-01-01', user: 'b', requests: 4 })],
      '2026-01-01',
      '2026-01-01',
      'requests',
    )
    expect(bars[0].value).toBe(5)
  })

  it('ranks users and models largest first and folds the rest into one bar', () => {
    const rows = [
      row({ user: 'carol', prompt_tokens: 1, completion_tokens: 1 }),
      row({ user: 'alice', prompt_tokens: 100, completion_tokens: 50 }),
      row({ user: 'bob', prompt_tokens: 30, completion_tokens: 0 }),
      row({ user: 'alice', day: '2026-01-02', prompt_tokens: 1, completion_tokens: 1 }),
      row({ user: 'dave', prompt_tokens: 5, completion_tokens: 0 }),
    ]
    expect(perCategory(rows, 'user', 'tokens').map((b) => [b.label, b.value])).toEqual([
      ['alice', 152],
      ['bob', 30],
      ['dave', 5],
      ['carol', 2],
    ])
    const folded = perCategory(rows, 'user', 'tokens', 3, 'Others')
    expect(folded.map((b) => [b.label, b.value])).toEqual([
      ['alice', 152],
      ['bob', 30],
      ['Others', 7],
    ])
    expect(folded[2].parts).toEqual([6, 1])
    expect(
      perCategory([row({ model: 'm1', cost_usd: 0.1 }), row({ model: 'm1', cost_usd: 0.2 })], 'model', 'cost')[0].value,
    ).toBeCloseTo(0.3, 9)
  })

  it('totals a period', () => {
    expect(totals([row({}), row({ requests: 2, cost_usd: 0.002 })])).toEqual({
      requests: 3,
      prompt_tokens: 20,
      completion_tokens: 40,
      cost_usd: 0.003,
    })
  })

  it('rounds the axis up to 1, 2 or 5 times a power of ten', () => {
    expect(niceMax(0)).toBe(1)
    expect(niceMax(7)).toBe(10)
    expect(niceMax(10)).toBe(10)
    expect(niceMax(11)).toBe(20)
    expect(niceMax(430)).toBe(500)
    expect(niceMax(0.003)).toBeCloseTo(0.005, 9)
  })

  it("formats numbers compactly in the reader's language", () => {
    expect(compact(1234, 'en-US')).toBe('1.2K')
    expect(compact(12, 'en-US')).toBe('12')
    expect(compact(0.0123, 'en-US', 'cost')).toBe('$0.0123')
  })

  it('computes the last N UTC days', () => {
    expect(lastDays(7, new Date('2026-03-03T23:00:00Z'))).toEqual({ since: '2026-02-25', until: '2026-03-03' })
  })
})
