/** Pure analysis of the soak run's RSS series. */

export interface Band {
  min: number
  median: number
  max: number
}

export interface RssTrend {
  warmupS: number
  /** RSS over the first and the last third of the run after the warm-up. */
  first: Band
  last: Band
  /** Median of the last third against the first, percent (the level). */
  growthPct: number
  /** Highest sample of the last third against the first third's, percent (GC sawtooth peaks must not climb). */
  peakGrowthPct: number
  /** Least-squares slope after the warm-up, MB per minute. */
  slopeMbPerMin: number
  samples: number
}

const NAN_BAND: Band = { min: NaN, median: NaN, max: NaN }

function band(xs: number[]): Band {
  if (!xs.length) return NAN_BAND
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return { min: s[0]!, median: s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2, max: s[s.length - 1]! }
}

function slope(points: readonly { t: number; mb: number }[]): number {
  const n = points.length
  if (n < 2) return NaN
  let st = 0
  let sm = 0
  for (const p of points) (st += p.t), (sm += p.mb)
  const mt = st / n
  const mm = sm / n
  let num = 0
  let den = 0
  for (const p of points) (num += (p.t - mt) * (p.mb - mm)), (den += (p.t - mt) ** 2)
  return den ? (num / den) * 60 : NaN
}

/**
 * Samples (t seconds, mb) taken during the run; everything before `warmupS` is ignored. The garbage
 * collector makes RSS a sawtooth, so the level (medians) and the peaks of the first and last thirds are
 * compared, rather than single samples.
 */
export function rssTrend(series: readonly { t: number; mb: number }[], warmupS: number): RssTrend {
  const after = series.filter((s) => s.t >= warmupS)
  if (after.length < 3) return { warmupS, first: NAN_BAND, last: NAN_BAND, growthPct: NaN, peakGrowthPct: NaN, slopeMbPerMin: NaN, samples: after.length }
  const t0 = after[0]!.t
  const span = after[after.length - 1]!.t - t0
  const first = band(after.filter((s) => s.t <= t0 + span / 3).map((s) => s.mb))
  const last = band(after.filter((s) => s.t >= t0 + (2 * span) / 3).map((s) => s.mb))
  return {
    warmupS,
    first,
    last,
    growthPct: ((last.median - first.median) / first.median) * 100,
    peakGrowthPct: ((last.max - first.max) / first.max) * 100,
    slopeMbPerMin: slope(after),
    samples: after.length,
  }
}

/** The soak target: the level and the peaks stay within `pct` percent after the warm-up. */
export function isFlat(t: RssTrend, pct = 10): boolean {
  return Number.isFinite(t.growthPct) && Math.abs(t.growthPct) <= pct && t.peakGrowthPct <= pct
}
