/** Latency samples and their summary. Pure apart from the growable buffer. */

export interface LatencySummary {
  count: number
  p50: number
  p95: number
  p99: number
  max: number
  mean: number
}

/** Nearest-rank percentile of an ascending array (p in 0..100); NaN when empty. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  const n = sorted.length
  if (!n) return Number.NaN
  const rank = Math.ceil((p / 100) * n)
  return sorted[Math.min(n, Math.max(1, rank)) - 1]!
}

export function summarize(values: Float64Array): LatencySummary {
  const n = values.length
  if (!n) return { count: 0, p50: Number.NaN, p95: Number.NaN, p99: Number.NaN, max: Number.NaN, mean: Number.NaN }
  const sorted = values.slice().sort()
  let sum = 0
  for (let i = 0; i < n; i++) sum += sorted[i]!
  return {
    count: n,
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    max: sorted[n - 1]!,
    mean: sum / n,
  }
}

/**
 * Append-only float buffer: the receive handler records one number per delivery (millions per run),
 * so it must not allocate per sample.
 */
export class Samples {
  private buf: Float64Array
  private n = 0

  constructor(initial = 1 << 16) {
    this.buf = new Float64Array(initial)
  }

  push(v: number): void {
    if (this.n === this.buf.length) {
      const next = new Float64Array(this.buf.length * 2)
      next.set(this.buf)
      this.buf = next
    }
    this.buf[this.n++] = v
  }

  get length(): number {
    return this.n
  }

  clear(): void {
    this.n = 0
  }

  values(): Float64Array {
    return this.buf.subarray(0, this.n)
  }

  summary(): LatencySummary {
    return summarize(this.values())
  }
}

/** a / b, or null when either side is missing or b is 0 (a ratio to a baseline that did not run). */
export function ratio(a: number | null | undefined, b: number | null | undefined): number | null {
  if (a === null || a === undefined || b === null || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0) return null
  return a / b
}
