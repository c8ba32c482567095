/** Sidebar sections by last activity: today, yesterday, the previous 7 and 30 days, older. */
export type DateGroup = 'today' | 'yesterday' | 'previous7' | 'previous30' | 'older'

export function dateGroup(iso: string, now: Date = new Date()): DateGroup {
  const then = new Date(iso)
  if (Number.isNaN(then.getTime())) return 'older'
  const startOfToday = new Date(now.getFullYear(), now.getMonth(), now.getDate()).getTime()
  const day = 86_400_000
  const t = then.getTime()
  if (t >= startOfToday) return 'today'
  if (t >= startOfToday - day) return 'yesterday'
  if (t >= startOfToday - 7 * day) return 'previous7'
  if (t >= startOfToday - 30 * day) return 'previous30'
  return 'older'
}

/** Consecutive runs of items in the same group (the list is already newest first). */
export function groupByDate<T extends { updated_at: string }>(
  items: T[],
  now: Date = new Date(),
): { group: DateGroup; items: T[] }[] {
  const out: { group: DateGroup; items: T[] }[] = []
  for (const item of items) {
    const group = dateGroup(item.updated_at, now)
    const last = out[out.length - 1]
    if (last && last.group === group) last.items.push(item)
    else out.push({ group, items: [item] })
  }
  return out
}
