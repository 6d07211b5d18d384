import type { LegacyType } from '../../events/catalog.ts'
import { USER_AGENT } from '../../version.ts'
import { signatureHeaders } from './signing.ts'

export interface OutgoingDelivery {
  /** Delivery id: `x-matric-delivery` and `webhook-id`, stable across retries. */
  deliveryId: string
  legacyType: LegacyType | string
  /** The exact body bytes that are signed and sent. */
  body: string
  /** Secrets that sign this attempt, newest first (two during a rotation). */
  secrets: readonly string[]
  /** Unix seconds of this attempt. */
  timestampS: number
  /** W3C traceparent to continue the publishing trace, when known. */
  traceparent?: string | null
}

/**
 * Every header of a webhook request, built in this one place (tracing and future headers go here).
 * Secrets and signatures never leave this function except in the returned headers.
 */
export function buildDeliveryHeaders(d: OutgoingDelivery): Record<string, string> {
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'user-agent': USER_AGENT,
    'x-matric-event': d.legacyType,
    'x-matric-delivery': d.deliveryId,
    'webhook-id': d.deliveryId,
    'webhook-timestamp': String(d.timestampS),
    ...signatureHeaders(d.secrets, d.deliveryId, d.timestampS, d.body),
  }
  if (d.traceparent) headers.traceparent = d.traceparent
  return headers
}
