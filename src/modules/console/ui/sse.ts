/** Server-Sent Events over fetch (so the pasted token travels in a header, never in a URL). */

export interface SseFrame {
  id: string | null
  event: string
  data: string
}

/**
 * Incremental SSE parser (the WHATWG event-stream rules the console needs): feed it text chunks, get the
 * complete frames. Comments (`: keepalive`) and `retry:` are skipped; a frame without `data:` is dropped.
 */
export class SseParser {
  private buf = ''
  private id: string | null = null
  private event = ''
  private data: string[] = []

  push(chunk: string): SseFrame[] {
    this.buf += chunk
    const out: SseFrame[] = []
    let nl: number
    while ((nl = this.buf.search(/\r\n|\r|\n/)) >= 0) {
      const line = this.buf.slice(0, nl)
      const len = this.buf.startsWith('\r\n', nl) ? 2 : 1
      // A lone \r at the end may be the first half of \r\n: wait for more.
      if (len === 1 && this.buf[nl] === '\r' && nl === this.buf.length - 1) break
      this.buf = this.buf.slice(nl + len)
      if (line === '') {
        if (this.data.length) out.push({ id: this.id, event: this.event || 'message', data: this.data.join('\n') })
        this.id = null
        this.event = ''
        this.data = []
        continue
      }
      if (line.startsWith(':')) continue
      const colon = line.indexOf(':')
      const field = colon < 0 ? line : line.slice(0, colon)
      let value = colon < 0 ? '' : line.slice(colon + 1)
      if (value.startsWith(' ')) value = value.slice(1)
      if (field === 'data') this.data.push(value)
      else if (field === 'event') this.event = value
      else if (field === 'id') this.id = value
    }
    return out
  }
}

export type StreamStatus = 'connecting' | 'open' | 'reconnecting' | 'closed' | 'denied'

export interface StreamOptions {
  url: () => string
  headers: () => Record<string, string>
  onFrame: (f: SseFrame) => void
  onStatus: (s: StreamStatus, detail?: string) => void
}

/**
 * One stream that reconnects with backoff (1 s … 15 s) and resumes after the last event it received
 * (`last_event_id`), so nothing is missed across a drop. 401/403 stop it: retrying would not help.
 */
export class EventStream {
  lastEventId: string | null = null
  private abort: AbortController | null = null
  private stopped = false
  private failures = 0
  private timer: ReturnType<typeof setTimeout> | undefined

  constructor(private o: StreamOptions) {}

  start(): void {
    this.stopped = false
    void this.run()
  }

  stop(): void {
    this.stopped = true
    clearTimeout(this.timer)
    this.abort?.abort()
    this.o.onStatus('closed')
  }

  private async run(): Promise<void> {
    if (this.stopped) return
    this.abort = new AbortController()
    this.o.onStatus(this.failures ? 'reconnecting' : 'connecting', this.lastEventId ?? undefined)
    let url = this.o.url()
    if (this.lastEventId) url += `${url.includes('?') ? '&' : '?'}last_event_id=${encodeURIComponent(this.lastEventId)}`
    try {
      const res = await fetch(url, { headers: { accept: 'text/event-stream', ...this.o.headers() }, credentials: 'same-origin', cache: 'no-store', signal: this.abort.signal })
      if (res.status === 401 || res.status === 403) {
        const body = (await res.json().catch(() => null)) as { message?: string } | null
        this.stopped = true
        this.o.onStatus('denied', body?.message ?? `HTTP ${res.status}`)
        return
      }
      if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`)
      this.o.onStatus('open', this.lastEventId ?? undefined)
      this.failures = 0
      const parser = new SseParser()
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader()
      for (;;) {
        const { value, done } = await reader.read()
        if (done) break
        for (const f of parser.push(value)) {
          if (f.id) this.lastEventId = f.id
          this.o.onFrame(f)
        }
      }
    } catch {
      if (this.stopped) return
    }
    if (this.stopped) return
    this.failures++
    const delay = Math.min(15_000, 1000 * 2 ** Math.min(this.failures - 1, 4))
    this.o.onStatus('reconnecting', this.lastEventId ?? undefined)
    this.timer = setTimeout(() => void this.run(), delay)
  }
}
