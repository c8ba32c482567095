/**
 * Usage rows from `GET /api/admin/usage` turned into chart bars: one per day of the period
 * (missing days are zero), or the largest users / models with the rest folded into one bar.
 */
import type { UsageRow } from '@/api/types'

export type Metric = 'tokens' | 'requests' | 'cost'

export interface Bar {
  key: string
  label: string
  value: number
  /** For tokens: prompt and completion, which add up to `value`. */
  parts?: [number, number]
}

export function metricOf(row: UsageRow, metric: Metric): number {
  if (metric === 'requests') return row.requests
  if (metric === 'cost') return row.cost_usd
  return row.prompt_tokens + row.completion_tokens
}

function bar(key: string, label: string, rows: UsageRow[], metric: Metric): Bar {
  let value = 0
  let prompt = 0
  let completion = 0
  for (const row of rows) {
    value += metricOf(row, metric)
    prompt += row.prompt_tokens
    completion += row.completion_tokens
  }
  if (metric === 'cost') value = Math.round(value * 1e6) / 1e6
  return metric === 'tokens' ? { key, label, value, parts: [prompt, completion] } : { key, label, value }
}

/** Each UTC day from `since` to `until` (YYYY-MM-DD, inclusive). */
export function daysBetween(since: string, until: string): string[] {
  const out: string[] = []
  const start = Date.parse(`${since}T00:00:00Z`)
  const end = Date.parse(`${until}T00:00:00Z`)
  if (Number.isNaN(start) || Number.isNaN(end) || end < start) return out
  for (let t = start; t <= end && out.length < 3660; t += 86_400_000) out.push(new Date(t).toISOString().slice(0, 10))
  return out
}

export function perDay(rows: readonly UsageRow[], since: string, until: string, metric: Metric): Bar[] {
  const byDay = new Map<string, UsageRow[]>()
  for (const row of rows) {
    if (!row.day) continue
    const list = byDay.get(row.day) ?? []
    list.push(row)
    byDay.set(row.day, list)
  }
  return daysBetween(since, until).map((day) => bar(day, day, byDay.get(day) ?? [], metric))
}

/** Totals per user or model, largest first; past `limit` bars the rest become one "others" bar. */
export function perCategory(
  rows: readonly UsageRow[],
  key: 'user' | 'model',
  metric: Metric,
  limit = 10,
  othersLabel = 'Others',
): Bar[] {
  const groups = new Map<string, UsageRow[]>()
  for (const row of rows) {
    const name = row[key] ?? '?'
    const list = groups.get(name) ?? []
    list.push(row)
    groups.set(name, list)
  }
  const bars = [...groups].map(([name, list]) => bar(name, name, list, metric))
  bars.sort((a, b) => b.value - a.value || a.label.localeCompare(b.label))
  if (bars.length <= limit) return bars
  const rest = bars.slice(limit - 1)
  const others: Bar = {
    key: '\u0000others',
    label: othersLabel,
    value: rest.reduce((sum, b) => sum + b.value, 0),
    ...(metric === 'tokens'
      ? {
          parts: [
            rest.reduce((s, b) => s + (b.parts?.[0] ?? 0), 0),
            rest.reduce((s, b) => s + (b.parts?.[1] ?? 0), 0),
          ] as [number, number],
        }
      : {}),
  }
  return [...bars.slice(0, limit - 1), others]
}

export interface Totals {
  requests: number
  prompt_tokens: number
  completion_tokens: number
  cost_usd: number
}

export function totals(rows: readonly UsageRow[]): Totals {
  const out: Totals = { requests: 0, prompt_tokens: 0, completion_tokens: 0, cost_usd: 0 }
  for (const row of rows) {
    out.requests += row.requests
    out.prompt_tokens += row.prompt_tokens
    out.completion_tokens += row.completion_tokens
    out.cost_usd += row.cost_usd
  }
  out.cost_usd = Math.round(out.cost_usd * 1e6) / 1e6
  return out
}

/** A round axis maximum at or above `max` (1, 2, 5 × 10^n). */
export function niceMax(max: number): number {
  if (!(max > 0)) return 1
  const power = 10 ** Math.floor(Math.log10(max))
  for (const step of [1, 2, 5, 10]) if (step * power >= max) return step * power
  return 10 * power
}

/** 1234 → "1.2K" style, in the reader's language. */
export function compact(value: number, locale: string, metric: Metric = 'tokens'): string {
  if (metric === 'cost') {
    return new Intl.NumberFormat(locale, {
      style: 'currency',
      currency: 'USD',
      maximumFractionDigits: value < 1 ? 4 : 2,
    }).format(value)
  }
  return new Intl.NumberFormat(locale, { notation: 'compact', maximumFractionDigits: 1 }).format(value)
}

/** The last `days` UTC days ending today, as since/until. */
export function lastDays(days: number, today: Date = new Date()): { since: string; until: string } {
  const until = today.toISOString().slice(0, 10)
  const since = new Date(Date.parse(`${until}T00:00:00Z`) - (days - 1) * 86_400_000).toISOString().slice(0, 10)
  return { since, until }
}
