/**
 * W3C Trace Context `traceparent` (https://www.w3.org/TR/trace-context/#traceparent-header): pure parse and
 * format, used for incoming HTTP requests, `PublishedEvent.traceparent` and outgoing webhook requests.
 */

export interface TraceParent {
  /** 32 lowercase hex digits, not all zero. */
  traceId: string
  /** 16 lowercase hex digits, not all zero. */
  spanId: string
  /** The trace-flags byte (bit 0 = sampled). */
  traceFlags: number
}

const HEX32 = /^[0-9a-f]{32}$/
const HEX16 = /^[0-9a-f]{16}$/
const HEX2 = /^[0-9a-f]{2}$/
const ZERO32 = '0'.repeat(32)
const ZERO16 = '0'.repeat(16)

/**
 * Parses a traceparent header; undefined for anything invalid (the request then starts a new trace, as the
 * spec requires). Version 00 must be exactly four fields; a higher version may append fields after a dash.
 */
export function parseTraceparent(header: string | null | undefined): TraceParent | undefined {
  if (!header) return undefined
  const h = header.trim()
  if (h.length < 55) return undefined
  const version = h.slice(0, 2)
  if (!HEX2.test(version) || version === 'ff') return undefined
  if (version === '00' ? h.length !== 55 : h.length > 55 && h[55] !== '-') return undefined
  if (h[2] !== '-' || h[35] !== '-' || h[52] !== '-') return undefined
  const traceId = h.slice(3, 35)
  const spanId = h.slice(36, 52)
  const flags = h.slice(53, 55)
  if (!HEX32.test(traceId) || traceId === ZERO32) return undefined
  if (!HEX16.test(spanId) || spanId === ZERO16) return undefined
  if (!HEX2.test(flags)) return undefined
  return { traceId, spanId, traceFlags: parseInt(flags, 16) }
}

/** Formats a version-00 traceparent (flags passed through as one byte, like the OTel propagator does). */
export function formatTraceparent(p: TraceParent): string {
  return `00-${p.traceId}-${p.spanId}-${(p.traceFlags & 0xff).toString(16).padStart(2, '0')}`
}
