import { parseStamp } from './frame.ts'
import { RawSseFleet } from './raw-sse-fleet.ts'
import { SseParser } from './sse.ts'
import { Samples } from './stats.ts'
import type { ClientKind } from './ws-fleet.ts'

/** What the scenarios need from a set of SSE streams, whatever the client implementation. */
export interface SseClients {
  readonly size: number
  counts: Int32Array
  readonly latency: Samples
  received: number
  warmupReceived: number
  reordered: number
  lagged: number
  resyncs: number
  lastReceiptAt: number
  openFailures: number
  endedUnexpectedly: number
  frameBytes: number
  readonly statuses: Map<number, number>
  open(n: number, concurrency?: number): Promise<number>
  reset(): void
  complete(expected: number): number
  closeOne(i: number): void
  closeAll(): void
}

/** `raw`: HTTP/1.1 over Bun.connect with in-place parsing (default); `runtime`: fetch() streaming. */
export function sseFleet(kind: ClientKind, url: string, headers: Record<string, string> = {}, sampleCapacity?: number): SseClients {
  return kind === 'raw' ? new RawSseFleet(url, headers, sampleCapacity) : new SseFleet(url, headers, sampleCapacity)
}

/**
 * N SSE streams over fetch (the load generator runs with BUN_CONFIG_MAX_HTTP_REQUESTS raised, since
 * Bun allows 256 concurrent fetches by default).
 */
export class SseFleet implements SseClients {
  counts = new Int32Array(0)
  private lastSeq = new Float64Array(0)
  private aborts: (AbortController | null)[] = []
  readonly latency: Samples
  received = 0
  warmupReceived = 0
  reordered = 0
  lagged = 0
  resyncs = 0
  lastReceiptAt = 0
  openFailures = 0
  endedUnexpectedly = 0
  frameBytes = 0
  readonly statuses = new Map<number, number>()

  constructor(
    private url: string,
    private headers: Record<string, string> = {},
    sampleCapacity = 1 << 16,
  ) {
    this.latency = new Samples(sampleCapacity)
  }

  get size(): number {
    return this.aborts.length
  }

  /** Opens `n` streams; resolves when each has its response headers (or failed). */
  async open(n: number, concurrency = 100): Promise<number> {
    const first = this.aborts.length
    const counts = new Int32Array(first + n)
    counts.set(this.counts)
    this.counts = counts
    const last = new Float64Array(first + n).fill(-1)
    last.set(this.lastSeq)
    this.lastSeq = last
    for (let i = 0; i < n; i++) this.aborts.push(null)
    let next = first
    let opened = 0
    const lane = async () => {
      while (next < first + n) {
        const i = next++
        if (await this.openOne(i)) opened++
        else this.openFailures++
      }
    }
    await Promise.all(Array.from({ length: Math.min(concurrency, n) }, lane))
    return opened
  }

  private async openOne(i: number): Promise<boolean> {
    const ac = new AbortController()
    this.aborts[i] = ac
    let res: Response
    try {
      res = await fetch(this.url, { headers: { accept: 'text/event-stream', ...this.headers }, signal: ac.signal })
    } catch {
      this.aborts[i] = null
      return false
    }
    this.statuses.set(res.status, (this.statuses.get(res.status) ?? 0) + 1)
    if (res.status !== 200 || !res.body) {
      this.aborts[i] = null
      await res.body?.cancel().catch(() => {})
      return false
    }
    void this.read(i, res.body, ac)
    return true
  }

  private async read(i: number, body: ReadableStream<Uint8Array>, ac: AbortController): Promise<void> {
    const parser = new SseParser()
    const decoder = new TextDecoder()
    try {
      for await (const chunk of body) {
        const now = performance.now()
        for (const ev of parser.feed(decoder.decode(chunk, { stream: true }))) this.onEvent(i, ev.event, ev.data, now)
      }
      if (!ac.signal.aborted) this.endedUnexpectedly++
    } catch {
      if (!ac.signal.aborted) this.endedUnexpectedly++
    }
  }

  private onEvent(i: number, event: string, data: string, now: number): void {
    if (event === 'events.lagged') this.lagged++
    else if (event === 'resync_required') this.resyncs++
    const s = parseStamp(data)
    if (!s) return
    if (s.seq < 0) {
      this.warmupReceived++
      return
    }
    if (!this.frameBytes) this.frameBytes = data.length
    this.counts[i]!++
    this.received++
    this.lastReceiptAt = now
    if (s.seq <= this.lastSeq[i]!) this.reordered++
    this.lastSeq[i] = s.seq
    this.latency.push(now - s.t)
  }

  reset(): void {
    this.counts.fill(0)
    this.lastSeq.fill(-1)
    this.latency.clear()
    this.received = 0
    this.warmupReceived = 0
    this.reordered = 0
    this.lastReceiptAt = 0
  }

  complete(expected: number): number {
    let n = 0
    for (let i = 0; i < this.counts.length; i++) if (this.aborts[i] && this.counts[i] === expected) n++
    return n
  }

  closeOne(i: number): void {
    this.aborts[i]?.abort()
    this.aborts[i] = null
  }

  closeAll(): void {
    for (let i = 0; i < this.aborts.length; i++) this.closeOne(i)
  }
}
