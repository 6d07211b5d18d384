/** A minimal incremental Server-Sent Events parser (the subset docs/sse.md uses: id, event, data, comments). */

export interface SseEvent {
  id?: string
  event: string
  data: string
}

export class SseParser {
  private carry = ''
  private id: string | undefined
  private event = ''
  private data: string[] = []

  /** Feeds decoded text; returns the events completed by it. Comments (`: keepalive`) and `retry:` are skipped. */
  feed(text: string): SseEvent[] {
    const out: SseEvent[] = []
    const lines = (this.carry + text).split('\n')
    this.carry = lines.pop() ?? ''
    for (let line of lines) {
      if (line.endsWith('\r')) line = line.slice(0, -1)
      if (line === '') {
        if (this.data.length) out.push({ ...(this.id !== undefined ? { id: this.id } : {}), event: this.event || 'message', data: this.data.join('\n') })
        this.id = undefined
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
