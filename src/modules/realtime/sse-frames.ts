/**
 * Server-Sent Events framing (docs/sse.md, WHATWG HTML "server-sent events"). Pure functions: the stream hub
 * builds each event's frame once and shares the encoded bytes between every stream that receives it.
 */

export interface FrameFields {
  /** `id:` — omitted for synthetic frames, so a client's Last-Event-ID always names a real, logged event. */
  id?: string
  /** `event:` — the dotted event type or a synthetic name (`resync_required`, `events.lagged`). */
  event?: string
  /** `data:` — one `data:` line per line of text. */
  data: string
}

/** Synthetic frame names (no `id:`). */
export const RESYNC_REQUIRED = 'resync_required'
export const EVENTS_LAGGED = 'events.lagged'

// A field value must not contain a line break (it would end the field) nor NUL in an id (the spec ignores
// such ids). Event ids and types are UUIDs and catalog names, so this only guards against surprises.
const LINE_BREAK = /[\r\n]/g
const NUL = /\0/g

/** One SSE frame: `id:`, `event:`, then `data:` lines, terminated by a blank line. */
export function frame(f: FrameFields): string {
  let out = ''
  if (f.id !== undefined) out += `id: ${f.id.replace(LINE_BREAK, '').replace(NUL, '')}\n`
  if (f.event !== undefined) out += `event: ${f.event.replace(LINE_BREAK, '')}\n`
  // CRLF, CR and LF all end a line for an SSE parser: split on each so no line break reaches the wire raw.
  for (const line of f.data.split(/\r\n|\r|\n/)) out += `data: ${line}\n`
  return out + '\n'
}

/** The reconnection hint sent first on every stream. */
export function retryFrame(ms: number): string {
  return `retry: ${Math.max(0, Math.floor(ms))}\n\n`
}

/** A comment line (ignored by parsers; keeps proxies and idle timers from closing a quiet stream). */
export function commentFrame(text: string): string {
  return `: ${text.replace(LINE_BREAK, ' ')}\n\n`
}

export const KEEPALIVE = commentFrame('keepalive')

/** A logged event: `id` = event_id, `event` = dotted type, `data` = the envelope JSON as published. */
export function eventFrame(eventId: string, eventType: string, envelopeJson: string): string {
  return frame({ id: eventId, event: eventType, data: envelopeJson })
}

export type ResyncReason = 'unknown_event_id' | 'expired_event_id' | 'replay_overtaken'

/**
 * The resume point cannot be honoured: the client must refetch state (REST) and continue from the live
 * events that follow this frame.
 */
export function resyncFrame(reason: ResyncReason, lastKnownId: string): string {
  return frame({ event: RESYNC_REQUIRED, data: JSON.stringify({ reason, last_known_id: lastKnownId }) })
}

/** `dropped_count` events were dropped because the client read too slowly; it may resume from its last id. */
export function laggedFrame(droppedCount: number): string {
  return frame({ event: EVENTS_LAGGED, data: JSON.stringify({ dropped_count: droppedCount }) })
}
