import { describe, expect, it } from 'vitest'
import { dateGroup, groupByDate } from './dateGroups'

const now = new Date(2026, 10, 28, 15, 0, 0)
const at = (daysAgo: number, hour = 12) => new Date(2026, 10, 28 - daysAgo, hour).toISOString()

describe('date groups', () => {
  it.each([
    [at(0, 1), 'today'],
    [at(1, 23), 'yesterday'],
    [at(3), 'previous7'],
    [at(20), 'previous30'],
    [at(90), 'older'],
    ['not a date', 'older'],
  ])('%s → %s', (iso, group) => {
    expect(dateGroup(iso, now)).toBe(group)
  })

  it('keeps the order and groups runs', () => {
    const items = [at(0), at(0), at(2), at(40)].map((updated_at, i) => ({ id: i, updated_at }))
    expect(groupByDate(items, now).map((g) => [g.group, g.items.map((i) => i.id)])).toEqual([
      ['today', [0, 1]],
      ['previous7', [2]],
      ['older', [3]],
    ])
  })
})
