/**
 * The load generator's Server-Sent Events parser: the console's (src/modules/console/ui/sse.ts), with an absent
 * `id` left out of the event rather than null.
 */
import { SseParser as FrameParser } from '../../src/modules/console/ui/sse.ts'

export interface SseEvent {
  id?: string
  event: string
  data: string
}

export class SseParser {
  private frames = new FrameParser()

  /** Feeds decoded text; returns the events completed by it. Comments (`: keepalive`) and `retry:` are skipped. */
  feed(text: string): SseEvent[] {
    return this.frames.push(text).map(({ id, event, data }) => (id === null ? { event, data } : { id, event, data }))
  }
}
