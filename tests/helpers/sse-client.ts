/**
 * A minimal streaming SSE client for the tests: `fetch`, then read `res.body` chunk by chunk and parse
 * frames as they arrive (the WHATWG field grammar: `field: value`, comments start with `:`, a blank line
 * ends a frame). Reading can be held back to simulate a client that stops reading.
 */
import { within } from './wait.ts'

export interface SseFrame {
  id?: string
  event?: string
  data?: string
  retry?: number
  comment?: string
}

export interface OpenOptions {
  headers?: Record<string, string>
  /** Start reading the body at once (default true). */
  read?: boolean
}

type Listener = () => void

export class SseClient {
  readonly frames: SseFrame[] = []
  /** Resolves when the server ends the stream (or the read fails). */
  readonly ended: Promise<void>
  private endedResolve!: () => void
  private isEnded = false
  private listeners = new Set<Listener>()
  private buffer = ''
  private reading = false

  private constructor(
    readonly res: Response,
    private abortController: AbortController,
  ) {
    this.ended = new Promise((r) => (this.endedResolve = r))
  }

  /** Opens a stream; a non-200 answer is returned as is (body unread) for the caller to inspect. */
  static async open(url: string, opts: OpenOptions = {}): Promise<SseClient> {
    const ac = new AbortController()
    const res = await fetch(url, { headers: { accept: 'text/event-stream', ...opts.headers }, signal: ac.signal })
    const c = new SseClient(res, ac)
    if (res.status === 200 && opts.read !== false) c.startReading()
    return c
  }

  get status(): number {
    return this.res.status
  }

  /** Event frames (the ones with an id), in arrival order. */
  get events(): SseFrame[] {
    return this.frames.filter((f) => f.id !== undefined)
  }

  startReading(): void {
    if (this.reading) return
    this.reading = true
    const reader = this.res.body!.getReader()
    const decoder = new TextDecoder()
    void (async () => {
      try {
        for (;;) {
          const { value, done } = await reader.read()
          if (done) break
          this.feed(decoder.decode(value, { stream: true }))
        }
      } catch {
        // aborted by the test
      } finally {
        this.isEnded = true
        this.endedResolve()
        this.notify()
      }
    })()
  }

  private feed(text: string): void {
    this.buffer += text
    let i: number
    while ((i = this.buffer.indexOf('\n\n')) >= 0) {
      const block = this.buffer.slice(0, i)
      this.buffer = this.buffer.slice(i + 2)
      const f: SseFrame = {}
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) {
          f.comment = line.slice(1).trim()
          continue
        }
        const colon = line.indexOf(':')
        const field = colon < 0 ? line : line.slice(0, colon)
        const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '')
        if (field === 'id') f.id = value
        else if (field === 'event') f.event = value
        else if (field === 'data') f.data = f.data === undefined ? value : f.data + '\n' + value
        else if (field === 'retry') f.retry = Number(value)
      }
      this.frames.push(f)
    }
    this.notify()
  }

  private notify(): void {
    for (const l of [...this.listeners]) l()
  }

  /** Resolves once `check` holds (re-checked on every chunk); rejects after `timeoutMs` naming `what`. */
  until<T>(check: () => T | undefined | false, what: string, timeoutMs = 10_000): Promise<T> {
    const first = check()
    if (first) return Promise.resolve(first)
    let listener: Listener
    const p = new Promise<T>((resolve, reject) => {
      listener = () => {
        const v = check()
        if (v) resolve(v)
        else if (this.isEnded) reject(new Error(`stream ended while waiting for ${what}; frames: ${JSON.stringify(this.frames.slice(-5))}`))
      }
      this.listeners.add(listener)
      listener()
    })
    return within(p, what, timeoutMs).finally(() => this.listeners.delete(listener))
  }

  /** The first frame matching `pred` (already received or still to come). */
  frame(pred: (f: SseFrame) => boolean, what: string, timeoutMs?: number): Promise<SseFrame> {
    return this.until(() => this.frames.find(pred), what, timeoutMs)
  }

  /** Waits until at least `n` event frames arrived; returns them all. */
  async eventCount(n: number, what: string, timeoutMs?: number): Promise<SseFrame[]> {
    await this.until(() => this.events.length >= n, `${n} ${what}`, timeoutMs)
    return this.events
  }

  /** Aborts the request (an abrupt client disconnect). */
  close(): void {
    this.abortController.abort()
  }
}

/** Parsed `data:` of a frame. */
export function dataOf<T = Record<string, unknown>>(f: SseFrame): T {
  return JSON.parse(f.data ?? 'null') as T
}
