import { describe, expect, it } from 'vitest'
import { classifyArrivals, type Tick } from './selftest'

const SERVER_START = 1_764_000_000_000

/** 20 ticks sent 100 ms apart, arriving at `arrive(i)` (browser clock, unrelated to the server's). */
function ticks(arrive: (i: number) => number, count = 20): Tick[] {
  return Array.from({ length: count }, (_, i) => ({ sentAt: SERVER_START + i * 100, arrivedAt: arrive(i) }))
}

describe('classifyArrivals', () => {
  it('calls evenly spread arrivals streaming', () => {
    const r = classifyArrivals(ticks((i) => 5000 + i * 100 + 3))
    expect(r.verdict).toBe('streaming')
    expect(r.serverSpanMs).toBe(1900)
    expect(r.arrivalSpanMs).toBe(1900)
    expect(r.lumps).toBe(20)
    expect(r.largestLump).toBe(1)
    expect(r.maxDelayMs).toBe(0)
  })

  it('tolerates jitter and the odd pair of events arriving together', () => {
    const jitter = [0, 12, -8, 30, 5, 0, 95, 0, -3, 7, 20, 0, 0, 88, 1, 2, 0, 9, 0, 4]
    const r = classifyArrivals(ticks((i) => 200 + i * 100 + jitter[i]))
    expect(r.verdict).toBe('streaming')
  })

  it('calls a single lump at the end buffered', () => {
    const r = classifyArrivals(ticks((i) => 9000 + i * 0.05))
    expect(r.verdict).toBe('buffered')
    expect(r.lumps).toBe(1)
    expect(r.largestLump).toBe(20)
    expect(r.arrivalSpanMs).toBeLessThan(5)
    expect(r.maxDelayMs).toBeGreaterThan(1800)
  })

  it('calls a few big lumps (a proxy flushing every few kilobytes) buffered', () => {
    // Four lumps of five, each arriving when its last event was sent.
    const r = classifyArrivals(ticks((i) => 1000 + (Math.floor(i / 5) * 5 + 4) * 100 + (i % 5) * 0.1))
    expect(r.arrivalSpanMs).toBeGreaterThan(1400)
    expect(r.lumps).toBe(4)
    expect(r.verdict).toBe('buffered')
  })

  it('calls arrivals squeezed into a fraction of the server time buffered', () => {
    const r = classifyArrivals(ticks((i) => 100 + i * 30))
    expect(r.arrivalSpanMs).toBe(570)
    expect(r.verdict).toBe('buffered')
  })

  it('does not depend on the order events are given in or on clock offsets', () => {
    const spread = ticks((i) => -50_000 + i * 101).reverse()
    expect(classifyArrivals(spread).verdict).toBe('streaming')
  })

  it('is incomplete with too few events, and when a spread-out stream broke off early', () => {
    expect(classifyArrivals([]).verdict).toBe('incomplete')
    expect(classifyArrivals(ticks((i) => i * 100, 2)).verdict).toBe('incomplete')
    const broken = classifyArrivals(ticks((i) => i * 100, 8))
    expect(broken.verdict).toBe('incomplete')
    expect(broken.received).toBe(8)
    // A lump is a lump however many arrived.
    expect(classifyArrivals(ticks(() => 42, 8)).verdict).toBe('buffered')
  })
})
