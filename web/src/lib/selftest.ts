/**
 * The connection self-test's verdict. The server sends `tick` events a fixed interval apart
 * (20 × 100 ms), each stamped with its own clock (`sent_at`); the browser stamps each with the
 * time it arrived. Through a clean path they arrive as spread out as they were sent; behind a
 * buffering proxy (or a compressing one) they arrive in one lump, or in a few lumps, at the end.
 *
 * Only differences are compared (server clock with server clock, browser clock with browser
 * clock), so the two clocks need not agree.
 */

export interface Tick {
  /** The server's send time, ms (its `sent_at`). */
  sentAt: number
  /** The browser's arrival time, ms (performance.now()). */
  arrivedAt: number
}

export type Verdict = 'streaming' | 'buffered' | 'incomplete'

export interface SelfTestResult {
  verdict: Verdict
  received: number
  expected: number
  /** How long the server took from the first tick to the last. */
  serverSpanMs: number
  /** How far apart the first and the last tick arrived. */
  arrivalSpanMs: number
  /** Groups of ticks that arrived together (less than `gapMs` apart). */
  lumps: number
  /** The most ticks that arrived together. */
  largestLump: number
  /** The longest a tick was held back, compared with the quickest tick. */
  maxDelayMs: number
}

export interface ClassifyOptions {
  expected?: number
  /** Ticks arriving closer than this belong to one lump; default a quarter of the send interval. */
  gapMs?: number
}

function median(values: number[]): number {
  if (!values.length) return 0
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

export function classifyArrivals(ticks: readonly Tick[], options: ClassifyOptions = {}): SelfTestResult {
  const expected = options.expected ?? 20
  const sorted = [...ticks].sort((a, b) => a.sentAt - b.sentAt)
  const base: SelfTestResult = {
    verdict: 'incomplete',
    received: sorted.length,
    expected,
    serverSpanMs: 0,
    arrivalSpanMs: 0,
    lumps: sorted.length,
    largestLump: sorted.length ? 1 : 0,
    maxDelayMs: 0,
  }
  if (sorted.length < 3) return base

  const first = sorted[0]
  const last = sorted[sorted.length - 1]
  const serverSpanMs = last.sentAt - first.sentAt
  const arrivals = sorted.map((t) => t.arrivedAt).sort((a, b) => a - b)
  const arrivalSpanMs = arrivals[arrivals.length - 1] - arrivals[0]
  const intervals = sorted.slice(1).map((t, i) => t.sentAt - sorted[i].sentAt)
  const gapMs = options.gapMs ?? Math.max(5, median(intervals) / 4)

  let lumps = 1
  let size = 1
  let largestLump = 1
  for (let i = 1; i < arrivals.length; i++) {
    if (arrivals[i] - arrivals[i - 1] < gapMs) {
      size += 1
    } else {
      lumps += 1
      size = 1
    }
    largestLump = Math.max(largestLump, size)
  }
  // Each tick's transit time (with an unknown clock offset, the same for all); the quickest one
  // is the path's own latency, and anything above it was held back on the way.
  const transit = sorted.map((t) => t.arrivedAt - t.sentAt)
  const quickest = Math.min(...transit)
  const maxDelayMs = Math.max(...transit.map((x) => x - quickest))

  const result = { ...base, serverSpanMs, arrivalSpanMs, lumps, largestLump, maxDelayMs: Math.round(maxDelayMs) }
  if (serverSpanMs <= 0) return result

  // One lump (or the whole stream squeezed into a small part of the time it took), or a few
  // big lumps: something between the server and the browser holds the events back.
  const squeezed = arrivalSpanMs < serverSpanMs * 0.5
  const lumpy = lumps < sorted.length * 0.6 || largestLump > sorted.length / 3
  if (squeezed || lumpy) return { ...result, verdict: 'buffered' }
  if (sorted.length < expected) return result // spread out, but the stream broke off early
  return { ...result, verdict: 'streaming' }
}
