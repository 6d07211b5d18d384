import { within } from './wait.ts'

export interface Frame {
  type: string
  [k: string]: unknown
}

/** A WebSocket test client that records every text frame (parsed) and lets a test await a matching one. */
export class WsClient {
  readonly frames: Frame[] = []
  readonly raw: string[] = []
  closed: { code: number; reason: string } | null = null
  private waiters: { match: (f: Frame) => boolean; resolve: (f: Frame) => void }[] = []
  private closeWaiters: ((c: { code: number; reason: string }) => void)[] = []

  private constructor(readonly ws: WebSocket) {
    ws.onmessage = (e) => {
      const text = String(e.data)
      this.raw.push(text)
      const f = JSON.parse(text) as Frame
      this.frames.push(f)
      this.onFrame?.(f)
      this.waiters = this.waiters.filter((w) => (w.match(f) ? (w.resolve(f), false) : true))
    }
    ws.onclose = (e) => {
      this.closed = { code: e.code, reason: e.reason }
      for (const w of this.closeWaiters) w(this.closed)
    }
  }

  onFrame?: (f: Frame) => void

  static async connect(url: string, protocols?: string | string[], opts?: { headers?: Record<string, string> }): Promise<WsClient> {
    const ws = new WebSocket(url, opts ? ({ protocols, headers: opts.headers } as unknown as string[]) : protocols)
    const c = new WsClient(ws)
    await within(
      new Promise<void>((resolve, reject) => {
        ws.onopen = () => resolve()
        ws.onerror = () => reject(new Error(`WebSocket to ${url.replace(/token=[^&]+/, 'token=…')} failed`))
      }),
      'WebSocket open',
    )
    return c
  }

  next(match: (f: Frame) => boolean, what: string, timeoutMs = 10_000): Promise<Frame> {
    const seen = this.frames.find(match)
    if (seen) return Promise.resolve(seen)
    return within(new Promise<Frame>((resolve) => this.waiters.push({ match, resolve })), what, timeoutMs)
  }

  /** A frame matching among those received from index `from` on (take `from = client.frames.length` before acting). */
  after(from: number, match: (f: Frame) => boolean, what: string, timeoutMs = 10_000): Promise<Frame> {
    const seen = this.frames.slice(from).find(match)
    if (seen) return Promise.resolve(seen)
    return within(new Promise<Frame>((resolve) => this.waiters.push({ match, resolve })), what, timeoutMs)
  }

  waitClose(timeoutMs = 10_000): Promise<{ code: number; reason: string }> {
    if (this.closed) return Promise.resolve(this.closed)
    return within(new Promise((resolve) => this.closeWaiters.push(resolve)), 'WebSocket close', timeoutMs)
  }

  send(text: string | Uint8Array): void {
    this.ws.send(text)
  }

  close(): void {
    this.ws.close()
  }
}

/** A client that keeps the HotM UI's queue counters exactly as the UI does. */
export class HotmCounters {
  total = 0
  running = 0
  pending = 0

  apply(f: Frame): void {
    switch (f.type) {
      case 'QueueStatus':
        this.total = f.total_jobs as number
        this.running = f.running as number
        this.pending = f.pending as number
        break
      case 'JobQueued':
        this.pending++
        this.total++
        break
      case 'JobStarted':
        this.pending--
        this.running++
        break
      case 'JobCompleted':
      case 'JobFailed':
        this.running--
        this.total--
        break
    }
  }
}
