import { benchPayload, envelopeLike, frameOf } from './frame.ts'
import type { Target } from './spec.ts'

/** Publishing the benchmark events, and waiting for them to arrive. */

export interface PublishStats {
  sent: number
  errors: number
  /** First non-2xx answer or network error, for the report. */
  firstError?: string
  /** Open-loop runs: events that left more than 5 ms after their slot (the publisher itself fell behind). */
  late: number
}

export type PublishOne = (seq: number) => Promise<void>

/**
 * One publish for the target: our external publish API (admin token) or the baseline's POST /publish.
 * The stamp is taken right before the request leaves, so latency = publish start → receipt.
 */
export function publisher(target: Target, bytes: number, stats: PublishStats, channel: 'ws' | 'sse' = 'ws'): PublishOne {
  const fail = (why: string) => {
    stats.errors++
    stats.firstError ??= why
  }
  if (target.kind === 'ours') {
    const url = `${target.http}/api/v1/events`
    const headers = { authorization: `Bearer ${target.tokens!.admin}`, 'content-type': 'application/json' }
    return async (seq) => {
      const body = `{"payload":${frameOf(benchPayload(seq, performance.now(), bytes))}}`
      try {
        const res = await fetch(url, { method: 'POST', headers, body })
        if (res.status !== 202) fail(`HTTP ${res.status}: ${(await res.text()).slice(0, 200)}`)
        else {
          stats.sent++
          await res.arrayBuffer()
        }
      } catch (e) {
        fail(String(e))
      }
    }
  }
  const url = `${target.http}${channel === 'sse' ? '/publish-sse' : '/publish'}`
  return async (seq) => {
    const p = benchPayload(seq, performance.now(), bytes)
    const body = channel === 'sse' ? envelopeLike(p, Bun.randomUUIDv7(), new Date().toISOString()) : frameOf(p)
    try {
      const res = await fetch(url, { method: 'POST', body })
      if (res.status !== 200) fail(`HTTP ${res.status}`)
      else stats.sent++
      await res.arrayBuffer()
    } catch (e) {
      fail(String(e))
    }
  }
}

/** Closed loop: `count` events, `window` requests in flight (seq from `firstSeq`). */
export async function burst(publish: PublishOne, count: number, window: number, firstSeq = 0): Promise<void> {
  let next = 0
  const lane = async () => {
    while (next < count) await publish(firstSeq + next++)
  }
  await Promise.all(Array.from({ length: Math.max(1, Math.min(window, count)) }, lane))
}

/**
 * Open loop at a fixed rate: event i leaves at start + i/rate whether or not earlier ones were answered,
 * so a slow server shows up as latency instead of silently slowing the publisher down.
 */
export async function paced(publish: PublishOne, rate: number, seconds: number, stats: PublishStats, maxInFlight = 512): Promise<void> {
  const total = Math.round(rate * seconds)
  const interval = 1000 / rate
  const inFlight = new Set<Promise<void>>()
  const start = performance.now()
  for (let i = 0; i < total; i++) {
    const due = start + i * interval
    const wait = due - performance.now()
    if (wait > 0.5) await Bun.sleep(wait)
    else if (wait < -5) stats.late++
    while (inFlight.size >= maxInFlight) await Promise.race(inFlight)
    const p: Promise<void> = publish(i).finally(() => inFlight.delete(p))
    inFlight.add(p)
  }
  await Promise.all(inFlight)
}

/**
 * Waits until `done()` or until nothing new arrived for `stallMs` (progress() unchanged), or `maxMs`.
 * Returns whether done() became true.
 */
export async function settle(done: () => boolean, progress: () => number, stallMs: number, maxMs: number): Promise<boolean> {
  const start = performance.now()
  let last = progress()
  let lastChange = performance.now()
  while (!done()) {
    const now = performance.now()
    if (now - start > maxMs) return false
    const p = progress()
    if (p !== last) {
      last = p
      lastChange = now
    } else if (now - lastChange > stallMs) return false
    await Bun.sleep(5)
  }
  return true
}

/** Polls until check() is true or the timeout passes. */
export async function until(check: () => Promise<boolean> | boolean, timeoutMs: number, everyMs = 50): Promise<boolean> {
  const end = performance.now() + timeoutMs
  for (;;) {
    try {
      if (await check()) return true
    } catch {
      // the server may still be busy answering; try again
    }
    if (performance.now() > end) return false
    await Bun.sleep(everyMs)
  }
}

export interface Health {
  connections: { ws: number; sse?: number }
  webhooks?: { queue_depth: number }
}

export async function health(target: Target): Promise<Health> {
  const res = await fetch(`${target.http}/health`)
  return (await res.json()) as Health
}

/** Sum of every sample of a Prometheus metric (all label sets); null when absent. */
export function metricSum(text: string, name: string): number | null {
  let sum: number | null = null
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue
    const rest = line.slice(name.length)
    if (rest[0] !== ' ' && rest[0] !== '{') continue
    const v = Number(line.slice(line.lastIndexOf(' ') + 1))
    if (Number.isFinite(v)) sum = (sum ?? 0) + v
  }
  return sum
}

export async function metrics(target: Target): Promise<string> {
  return (await fetch(`${target.http}/metrics`)).text()
}
