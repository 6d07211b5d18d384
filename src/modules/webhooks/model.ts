import { t, type Static } from 'elysia'
import { JsonInt } from '../../http/schemas.ts'

// Response schemas state additionalProperties explicitly (Elysia would otherwise add it in place on first use,
// changing the OpenAPI document); request schemas refuse unknown properties.

const EXAMPLE_ID = '0193a0c4-2f1e-7b7d-8f3c-1a2b3c4d5e71'
const EXAMPLE_DELIVERY = '0193a0c4-3a00-7c10-9d2e-6f7a8b9c0d1e'
const EXAMPLE_EVENT = '0193a0c4-39ff-7b2a-8c1d-2e3f4a5b6c7d'
const EXAMPLE_SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw7HHlJ2eNcEY='

const eventNames = t.Array(t.String({ minLength: 1, maxLength: 64 }), {
  minItems: 1,
  maxItems: 50,
  description:
    'Event names: dotted (`job.completed`), legacy (`JobCompleted`), a prefix (`job` = every `job.*`), or `*` ' +
    '(everything except `queue.status` and `job.progress`, which must be named or selected by prefix).',
})
const url = t.String({ minLength: 1, maxLength: 2048, description: 'http(s) URL without credentials; private targets are refused unless MATRIC_WEBHOOK_ALLOW_PRIVATE=true' })
const maxRetries = JsonInt({ minimum: 0, maximum: 10, description: 'Retries after the first attempt (default 3)' })
const description = t.String({ maxLength: 500 })

const webhookFields = {
  id: t.String({ format: 'uuid' }),
  url: t.String(),
  events: t.Array(t.String()),
  description: t.Union([t.String(), t.Null()]),
  memory: t.String(),
  max_retries: JsonInt({ minimum: 0, maximum: 10 }),
  is_active: t.Boolean(),
  disabled_reason: t.Union([t.String(), t.Null()], { description: 'Why the webhook was disabled (null while active)' }),
  consecutive_failures: JsonInt({ minimum: 0, description: 'Failed deliveries since the last success; disabled at MATRIC_WEBHOOK_DISABLE_AFTER' }),
  created_at: t.String({ format: 'date-time' }),
  updated_at: t.String({ format: 'date-time' }),
}

const webhookExample = {
  id: EXAMPLE_ID,
  url: 'https://hooks.example.com/matric',
  events: ['job.completed', 'JobFailed', 'note'],
  description: 'CI notifier',
  memory: 'default',
  max_retries: 3,
  is_active: true,
  disabled_reason: null,
  consecutive_failures: 0,
  created_at: '2026-11-27T10:00:00.000Z',
  updated_at: '2026-11-27T10:00:00.000Z',
}

/** A webhook as every endpoint except create and rotate-secret returns it (no secret). */
export const Webhook = t.Object(webhookFields, { additionalProperties: false, examples: [webhookExample] })
export type Webhook = Static<typeof Webhook>

/** Create returns the secret once. */
export const WebhookWithSecret = t.Object(
  { ...webhookFields, secret: t.String({ description: 'Signing secret; shown only here and by rotate-secret' }) },
  { additionalProperties: false, examples: [{ ...webhookExample, secret: EXAMPLE_SECRET }] },
)
export type WebhookWithSecret = Static<typeof WebhookWithSecret>

export const WebhookList = t.Array(Webhook, { examples: [[webhookExample]] })

export const CreateWebhook = t.Object(
  {
    url,
    events: eventNames,
    secret: t.Optional(t.String({ minLength: 16, maxLength: 256, description: 'Default: `whsec_` + base64 of 32 random bytes' })),
    description: t.Optional(description),
    max_retries: t.Optional(maxRetries),
    memory: t.Optional(t.String({ description: 'Memory whose events are delivered; defaults to the request memory and must be granted' })),
  },
  {
    additionalProperties: false,
    examples: [{ url: 'https://hooks.example.com/matric', events: ['job.completed', 'JobFailed', 'note'], description: 'CI notifier', max_retries: 3 }],
  },
)
export type CreateWebhook = Static<typeof CreateWebhook>

export const PatchWebhook = t.Object(
  {
    url: t.Optional(url),
    events: t.Optional(eventNames),
    description: t.Optional(t.Union([description, t.Null()])),
    max_retries: t.Optional(maxRetries),
    is_active: t.Optional(t.Boolean({ description: '`true` re-enables (and resets consecutive_failures); `false` disables' })),
  },
  { additionalProperties: false, examples: [{ is_active: true }, { events: ['*'], max_retries: 5 }] },
)
export type PatchWebhook = Static<typeof PatchWebhook>

export const RotatedSecret = t.Object(
  {
    webhook_id: t.String({ format: 'uuid' }),
    secret: t.String({ description: 'The new signing secret' }),
    previous_secret_expires_at: t.String({ format: 'date-time', description: 'Until then the previous secret signs alongside the new one' }),
  },
  { additionalProperties: false, examples: [{ webhook_id: EXAMPLE_ID, secret: EXAMPLE_SECRET, previous_secret_expires_at: '2026-11-28T10:00:00.000Z' }] },
)

const attemptExample = {
  id: '0193a0c4-3b00-7d00-8e00-0f1a2b3c4d5e',
  delivery_id: EXAMPLE_DELIVERY,
  event_id: EXAMPLE_EVENT,
  event_type: 'job.completed',
  attempt: 2,
  status_code: 200,
  duration_ms: 37,
  response_excerpt: 'ok',
  created_at: '2026-11-27T10:00:01.250Z',
  success: true,
}

export const DeliveryAttempt = t.Object(
  {
    id: t.String({ format: 'uuid' }),
    delivery_id: t.String({ format: 'uuid', description: 'Stable across retries; sent as x-matric-delivery and webhook-id' }),
    event_id: t.String(),
    event_type: t.String({ description: 'dotted event type' }),
    attempt: JsonInt({ minimum: 1 }),
    status_code: t.Optional(JsonInt({ description: 'HTTP status, absent when the receiver did not answer' })),
    error: t.Optional(t.String({ description: 'Why the attempt failed (absent on success)' })),
    duration_ms: JsonInt({ minimum: 0 }),
    response_excerpt: t.String({ description: 'First bytes of the response body (at most 4 KiB)' }),
    created_at: t.String({ format: 'date-time' }),
    success: t.Boolean(),
  },
  {
    additionalProperties: false,
    examples: [attemptExample],
  },
)
export type DeliveryAttempt = Static<typeof DeliveryAttempt>
export const DeliveryAttemptList = t.Array(DeliveryAttempt, {
  examples: [
    [
      attemptExample,
      {
        ...attemptExample,
        id: '0193a0c4-3a10-7d00-8e00-0f1a2b3c4d5e',
        attempt: 1,
        status_code: 503,
        error: 'receiver answered HTTP 503',
        duration_ms: 12,
        response_excerpt: 'maintenance',
        created_at: '2026-11-27T10:00:00.010Z',
        success: false,
      },
    ],
  ],
})

export const DeliveryStatus = t.Union([t.Literal('pending'), t.Literal('retrying'), t.Literal('in_flight'), t.Literal('succeeded'), t.Literal('failed')])
export type DeliveryStatus = Static<typeof DeliveryStatus>

export const Delivery = t.Object(
  {
    id: t.String({ format: 'uuid' }),
    webhook_id: t.String({ format: 'uuid' }),
    event_id: t.String(),
    event_type: t.String(),
    status: DeliveryStatus,
    attempts: JsonInt({ minimum: 0 }),
    next_attempt_at: t.Union([t.String({ format: 'date-time' }), t.Null()], { description: 'When the next attempt is due (null once finished)' }),
    last_status_code: t.Union([JsonInt(), t.Null()]),
    last_error: t.Union([t.String(), t.Null()]),
    created_at: t.String({ format: 'date-time' }),
    updated_at: t.String({ format: 'date-time' }),
  },
  {
    additionalProperties: false,
    examples: [
      {
        id: EXAMPLE_DELIVERY,
        webhook_id: EXAMPLE_ID,
        event_id: EXAMPLE_EVENT,
        event_type: 'queue.status',
        status: 'pending',
        attempts: 0,
        next_attempt_at: '2026-11-27T10:00:00.000Z',
        last_status_code: null,
        last_error: null,
        created_at: '2026-11-27T10:00:00.000Z',
        updated_at: '2026-11-27T10:00:00.000Z',
      },
    ],
  },
)
export type Delivery = Static<typeof Delivery>

export const WebhookParams = t.Object({ id: t.String({ format: 'uuid' }) })
export const DeliveryParams = t.Object({ id: t.String({ format: 'uuid' }), delivery_id: t.String({ format: 'uuid' }) })
export const DeliveriesQuery = t.Object({
  limit: t.Optional(t.Integer({ minimum: 1, maximum: 500, default: 50, description: 'Newest entries first; at most 500' })),
  memory: t.Optional(t.String()),
})
export const MemoryQuery = t.Object({ memory: t.Optional(t.String()) })

/** At most this many re-queued delivery ids are listed in a recover answer (`recovered` counts them all). */
export const RECOVER_LISTED_IDS = 500

export const RecoverWebhook = t.Object(
  {
    since: t.String({ format: 'date-time', description: 'Re-deliver failed deliveries of events from this time on (RFC 3339)' }),
    until: t.Optional(t.String({ format: 'date-time', description: 'Up to (excluding) this time; default now' })),
  },
  { additionalProperties: false, examples: [{ since: '2026-11-27T09:00:00Z' }] },
)
export type RecoverWebhook = Static<typeof RecoverWebhook>

export const RecoverResult = t.Object(
  {
    webhook_id: t.String({ format: 'uuid' }),
    since: t.String({ format: 'date-time' }),
    until: t.String({ format: 'date-time' }),
    recovered: JsonInt({ minimum: 0, description: 'Failed deliveries re-queued for an immediate attempt' }),
    delivery_ids: t.Array(t.String({ format: 'uuid' }), { description: `The re-queued deliveries (the first ${RECOVER_LISTED_IDS})` }),
  },
  {
    additionalProperties: false,
    examples: [{ webhook_id: EXAMPLE_ID, since: '2026-11-27T09:00:00.000Z', until: '2026-11-27T10:00:00.000Z', recovered: 1, delivery_ids: [EXAMPLE_DELIVERY] }],
  },
)
export type RecoverResult = Static<typeof RecoverResult>
