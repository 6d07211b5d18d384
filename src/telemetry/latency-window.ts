/**
 * Recent event latencies of one transport, for live percentiles (the console's Overview). The Prometheus
 * histogram is cumulative since start and bucketed; operators looking at a page want "now": the last
 * `capacity` observations of the last `windowMs`, exact. A fixed ring, so recording is two array writes.
 */
export class LatencyWindow {
  private values: Float64Array
  private times: Float64Array
  private next = 0
  private size = 0

  constructor(
    readonly capacity = 2048,
    readonly windowMs = 60_000,
  ) {
    this.values = new Float64Array(capacity)
    this.times = new Float64Array(capacity)
  }

  record(ms: number, nowMs: number): void {
    this.values[this.next] = ms
    this.times[this.next] = nowMs
    this.next = (this.next + 1) % this.capacity
    if (this.size < this.capacity) this.size++
  }

  /** The observations of the last `windowMs` before `nowMs` (unordered). */
  recent(nowMs: number): number[] {
    const out: number[] = []
    const from = nowMs - this.windowMs
    for (let i = 0; i < this.size; i++) if (this.times[i]! >= from) out.push(this.values[i]!)
    return out
  }
}

export interface Percentiles {
  count: number
  p50: number | null
  p95: number | null
  p99: number | null
}

/** Nearest-rank percentiles (null without observations), rounded to 0.01 ms. */
export function percentiles(values: readonly number[]): Percentiles {
  if (!values.length) return { count: 0, p50: null, p95: null, p99: null }
  const sorted = [...values].sort((a, b) => a - b)
  const rank = (p: number) => round2(sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!)
  return { count: sorted.length, p50: rank(50), p95: rank(95), p99: rank(99) }
}

const round2 = (n: number) => Math.round(n * 100) / 100
