import { Fleet, type Clients } from './fleet.ts'
import { parseStamp } from './frame.ts'
import { RawWsFleet } from './raw-ws-fleet.ts'

/** What the scenarios need from a set of WebSocket clients, whatever the client implementation. */
export interface WsClients extends Clients {
  readonly unexpectedCloses: Map<number, number>
  open(n: number, concurrency?: number, timeoutMs?: number): Promise<number>
  closeOne(i: number, code?: number): void
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
export class WsFleet extends Fleet<WebSocket> implements WsClients {
  /** Close codes seen for sockets we did not close ourselves. */
  readonly unexpectedCloses = new Map<number, number>()
  private closing = new Set<number>()

  constructor(private opts: FleetOptions) {
    super(opts.sampleCapacity)
  }

  protected openOne(i: number, timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      // Bun's client accepts headers (the service authenticates with a bearer header; baselines ignore it).
      const ws = new WebSocket(this.opts.url, { headers: this.opts.headers } as unknown as string[])
      this.slots[i] = ws
      let settled = false
      const timer = setTimeout(() => done(false), timeoutMs)
      const done = (ok: boolean) => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        if (!ok) {
          this.slots[i] = null
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
        if (this.slots[i] === ws) this.slots[i] = null
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
    this.receipt(i, s.seq, s.t, now)
  }

  closeOne(i: number, code = 1000): void {
    const ws = this.slots[i]
    if (!ws) return
    this.closing.add(i)
    this.slots[i] = null
    ws.close(code)
  }
}
