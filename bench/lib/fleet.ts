import type { Socket } from 'bun'
import { Samples } from './stats.ts'

/** What the scenarios read of any set of clients (WebSocket or SSE), whatever the implementation. */
export interface Clients {
  readonly size: number
  /** Measured deliveries per client. */
  counts: Int32Array
  readonly latency: Samples
  received: number
  warmupReceived: number
  reordered: number
  lastReceiptAt: number
  openFailures: number
  reset(): void
  complete(expected: number): number
  closeAll(): void
}

/**
 * What every client fleet (WebSocket or SSE, raw socket or runtime class) does the same way: one slot per
 * client, opening them a few handshakes at a time, and the receipt bookkeeping — per-client counts and
 * order, latency, totals — that the scenarios read.
 */
export abstract class Fleet<S> implements Clients {
  /** One per client ever opened: its socket (or handle) while open, null once it failed or closed. */
  protected readonly slots: (S | null)[] = []
  counts = new Int32Array(0)
  private lastSeq = new Float64Array(0)
  readonly latency: Samples
  received = 0
  warmupReceived = 0
  reordered = 0
  lastReceiptAt = 0
  openFailures = 0

  constructor(sampleCapacity = 1 << 16) {
    this.latency = new Samples(sampleCapacity)
  }

  get size(): number {
    return this.slots.length
  }

  /** Opens `n` more clients, `concurrency` handshakes at a time; resolves when all are open or failed. */
  async open(n: number, concurrency = 100, timeoutMs = 30_000): Promise<number> {
    const first = this.slots.length
    const counts = new Int32Array(first + n)
    counts.set(this.counts)
    this.counts = counts
    const last = new Float64Array(first + n).fill(-1)
    last.set(this.lastSeq)
    this.lastSeq = last
    for (let k = 0; k < n; k++) this.slots.push(null)
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

  /** Opens client `i` (its slot exists and is null); true once it is ready to receive. */
  protected abstract openOne(i: number, timeoutMs: number): Promise<boolean>

  /**
   * One stamped message received by client `i` at `now`: a warm-up one (negative `seq`) is only counted;
   * otherwise counts it, checks the order and records the latency. Returns whether it was a measured
   * delivery. Runs once per delivered frame: no allocation here.
   */
  protected receipt(i: number, seq: number, t: number, now: number): boolean {
    if (seq < 0) {
      this.warmupReceived++
      return false
    }
    this.counts[i]!++
    this.received++
    this.lastReceiptAt = now
    if (seq <= this.lastSeq[i]!) this.reordered++
    this.lastSeq[i] = seq
    this.latency.push(now - t)
    return true
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

  /** Clients still open that got exactly `expected` stamped messages. */
  complete(expected: number): number {
    let k = 0
    for (let i = 0; i < this.counts.length; i++) if (this.slots[i] && this.counts[i] === expected) k++
    return k
  }

  abstract closeOne(i: number): void

  closeAll(): void {
    for (let i = 0; i < this.slots.length; i++) this.closeOne(i)
  }
}

/** Per-connection state every raw client keeps (the socket's `data`). */
export interface RawConn {
  i: number
  /** Bytes of an incomplete frame, event or response head carried to the next read. */
  carry: Buffer | null
  /** Set when we close it ourselves (or gave up on it), so its close is not counted as unexpected. */
  closing: boolean
  /** Settles the pending open(); null once settled. */
  resolve: ((ok: boolean) => void) | null
}

/**
 * Clients on raw Bun.connect sockets that write an HTTP/1.1 GET by hand and parse the answer in place.
 * The subclass gives the request's own header lines, the fresh per-connection state and the handlers;
 * it settles the open (`conn.resolve`) once the response head is read.
 */
export abstract class RawFleet<C extends RawConn> extends Fleet<Socket<C>> {
  private host: string
  private port: number
  private request: string

  /** `fixedHeaders`: the request's own header lines, each ending in CRLF; `headers` are added after them. */
  constructor(url: string, fixedHeaders: string, headers: Record<string, string>, sampleCapacity?: number) {
    super(sampleCapacity)
    const u = new URL(url)
    this.host = u.hostname
    this.port = Number(u.port)
    const extra = Object.entries(headers)
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join('')
    this.request = `GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: localhost\r\n${fixedHeaders}${extra}\r\n`
  }

  protected abstract newConn(i: number): C
  protected abstract onData(s: Socket<C>, chunk: Buffer): void
  protected abstract onClose(s: Socket<C>): void

  protected openOne(i: number, timeoutMs: number): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      const conn = this.newConn(i)
      const timer = setTimeout(() => finish(false), timeoutMs)
      const finish = (ok: boolean) => {
        if (!conn.resolve) return
        conn.resolve = null
        clearTimeout(timer)
        resolve(ok)
      }
      conn.resolve = finish
      const fleet = this
      Bun.connect<C>({
        hostname: this.host,
        port: this.port,
        data: conn,
        socket: {
          open(s) {
            fleet.slots[i] = s
            s.write(fleet.request)
          },
          data(s, chunk) {
            fleet.onData(s, chunk)
          },
          close(s) {
            fleet.onClose(s)
          },
          error(s) {
            fleet.onClose(s)
          },
          connectError() {
            finish(false)
          },
        },
      }).catch(() => finish(false))
    })
  }
}
