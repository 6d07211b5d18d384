import { Fleet, type Clients } from './fleet.ts'
import { parseStamp } from './frame.ts'
import { RawSseFleet } from './raw-sse-fleet.ts'
import { SseParser } from './sse.ts'
import type { ClientKind } from './ws-fleet.ts'

/** What the scenarios need from a set of SSE streams, whatever the client implementation. */
export interface SseClients extends Clients {
  lagged: number
  resyncs: number
  endedUnexpectedly: number
  frameBytes: number
  readonly statuses: Map<number, number>
  open(n: number, concurrency?: number): Promise<number>
  closeOne(i: number): void
}

/** `raw`: HTTP/1.1 over Bun.connect with in-place parsing (default); `runtime`: fetch() streaming. */
export function sseFleet(kind: ClientKind, url: string, headers: Record<string, string> = {}, sampleCapacity?: number): SseClients {
  return kind === 'raw' ? new RawSseFleet(url, headers, sampleCapacity) : new SseFleet(url, headers, sampleCapacity)
}

/**
 * N SSE streams over fetch (the load generator runs with BUN_CONFIG_MAX_HTTP_REQUESTS raised, since
 * Bun allows 256 concurrent fetches by default).
 */
export class SseFleet extends Fleet<AbortController> implements SseClients {
  lagged = 0
  resyncs = 0
  endedUnexpectedly = 0
  frameBytes = 0
  readonly statuses = new Map<number, number>()

  constructor(
    private url: string,
    private headers: Record<string, string> = {},
    sampleCapacity?: number,
  ) {
    super(sampleCapacity)
  }

  /** Opens one stream; true when it has its response headers. */
  protected async openOne(i: number): Promise<boolean> {
    const ac = new AbortController()
    this.slots[i] = ac
    let res: Response
    try {
      res = await fetch(this.url, { headers: { accept: 'text/event-stream', ...this.headers }, signal: ac.signal })
    } catch {
      this.slots[i] = null
      return false
    }
    this.statuses.set(res.status, (this.statuses.get(res.status) ?? 0) + 1)
    if (res.status !== 200 || !res.body) {
      this.slots[i] = null
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
    if (!s || !this.receipt(i, s.seq, s.t, now)) return
    if (!this.frameBytes) this.frameBytes = data.length
  }

  closeOne(i: number): void {
    this.slots[i]?.abort()
    this.slots[i] = null
  }
}
