import { parseStamp } from './frame.ts'
import { RawWsFleet } from './raw-ws-fleet.ts'
import { Samples } from './stats.ts'

/** What the scenarios need from a set of WebSocket clients, whatever the client implementation. */
export interface WsClients {
  readonly size: number
  counts: Int32Array
  readonly latency: Samples
  received: number
  warmupReceived: number
  reordered: number
  lastReceiptAt: number
  openFailures: number
  readonly unexpectedCloses: Map<number, number>
  open(n: number, concurrency?: number, timeoutMs?: number): Promise<number>
  reset(): void
  complete(expected: number): number
  closeOne(i: number, code?: number): void
  closeAll(): void
}

/**
 * `raw`: RFC 6455 over Bun.connect (the default: cheapest per frame, so the load generator steals less
 * CPU from the server); `runtime`: Bun's WebSocket class, what an application would use.
 */
export type ClientKind = 'raw' | 'runtime'

export function wsFleet(kind: ClientKind, opts: FleetOptions): WsClients {
  return kind === 'raw' ? new RawWsFleet(opts) : new WsFleet(opts)
}

export interface FleetOptions {
  url: string
  headers?: Record<string, string>
  /** Called for frames without a bench stamp (pipeline run: job and note frames). */
  onOther?: (client: number, text: string, now: number) => void
  /** Initial latency buffer (it grows); small for the soak's short-lived churn batches. */
  sampleCapacity?: number
}

/**
 * N WebSocket clients in this process, the same code for every server under test. The receive handler
 * does the least possible work per frame: find the stamp, count, record the latency.
 */
export class WsFleet implements WsClients {
  readonly sockets: (WebSocket | null)[] = []
  counts = new Int32Array(0)
  private lastSeq = new Float64Array(0)
  readonly latency: Samples
  received = 0
  warmupReceived = 0
  reordered = 0
  lastReceiptAt = 0
  openFailures = 0
  /** Close codes seen for sockets we did not close ourselves. */
  readonly unexpectedCloses = new Map<number, number>()
  private closing = new Set<number>()

  constructor(private opts: FleetOptions) {
    this.latency = new Samples(opts.sampleCapacity ?? 1 << 16)
  }

  get size(): number {
    return this.sockets.length
  }

  /** Opens `n` more clients, `concurrency` handshakes at a time; resolves when all are open or failed. */
  async open(n: number, concurrency = 100, timeoutMs = 30_000): Promise<number> {
    const first = this.sockets.length
    this.grow(first + n)
    let next = first
    let opened = 0
    const lane = async () => {
      while (next < first + n) {
        const i = next++
        if (await this.openOne(i, timeoutMs)) opened++
        else this.openFailures++
      }
    }
    await Promise.all(Array.from({ length: Math.min(concurrency, n) }, lane))
    return opened
  }

  private grow(size: number): void {
    const counts = new Int32Array(size)
    counts.set(this.counts)
    this.counts = counts
    const last = new Float64Array(size).fill(-1)
    last.set(this.lastSeq)
    this.lastSeq = last
    while (this.sockets.length < size) this.sockets.push(null)
  }

  private openOne(i: number, timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      // Bun's client accepts headers (the service authenticates with a bearer header; baselines ignore it).
      const ws = new WebSocket(this.opts.url, { headers: this.opts.headers } as unknown as string[])
      this.sockets[i] = ws
      let settled = false
      const timer = setTimeout(() => done(false), timeoutMs)
      const done = (ok: boolean) => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        if (!ok) {
          this.sockets[i] = null
          try {
            ws.close()
          } catch {}
        }
        resolve(ok)
      }
      ws.onopen = () => done(true)
      ws.onerror = () => done(false)
      ws.onclose = (ev) => {
        done(false)
        if (this.sockets[i] === ws) this.sockets[i] = null
        if (!this.closing.delete(i)) this.unexpectedCloses.set(ev.code, (this.unexpectedCloses.get(ev.code) ?? 0) + 1)
      }
      ws.onmessage = (ev) => this.onMessage(i, ev.data)
    })
  }

  private onMessage(i: number, data: unknown): void {
    if (typeof data !== 'string') return
    const now = performance.now()
    const s = parseStamp(data)
    if (!s) {
      this.opts.onOther?.(i, data, now)
      return
    }
    if (s.seq < 0) {
      this.warmupReceived++
      return
    }
    this.counts[i]!++
    this.received++
    this.lastReceiptAt = now
    if (s.seq <= this.lastSeq[i]!) this.reordered++
    this.lastSeq[i] = s.seq
    this.latency.push(now - s.t)
  }

  /** Forgets what was received so far (after the warm-up). */
  reset(): void {
    this.counts.fill(0)
    this.lastSeq.fill(-1)
    this.latency.clear()
    this.received = 0
    this.warmupReceived = 0
    this.reordered = 0
    this.lastReceiptAt = 0
  }

  /** Clients that got exactly `expected` stamped frames. */
  complete(expected: number): number {
    let n = 0
    for (let i = 0; i < this.counts.length; i++) if (this.sockets[i] && this.counts[i] === expected) n++
    return n
  }

  closeOne(i: number, code = 1000): void {
    const ws = this.sockets[i]
    if (!ws) return
    this.closing.add(i)
    this.sockets[i] = null
    ws.close(code)
  }

  closeAll(): void {
    for (let i = 0; i < this.sockets.length; i++) this.closeOne(i)
  }
}
