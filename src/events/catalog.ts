import { t, type Static, type TSchema } from 'elysia'
import { JsonInt } from '../http/schemas.ts'

/**
 * The event catalog (docs/events.md): one TypeBox schema per payload, the single source of truth for
 * validation (external publishers), documentation (OpenAPI) and types.
 * Optional fields are omitted when absent, never null.
 */
const id = t.String({ minLength: 1, maxLength: 128 })
/**
 * A UUID of any version and variant, the way Fortemi and the HotM client check `correlation_id` / `causation_id`
 * (JSON Schema's `uuid` format would refuse some ids upstream components emit).
 */
export const UUID_PATTERN = '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'
export const AnyUuid = (description: string) => t.String({ pattern: UUID_PATTERN, maxLength: 36, description })
const jobType = t.String({ minLength: 1, maxLength: 64, description: 'PascalCase job type, e.g. Embedding' })
const noteId = t.Optional(id)
const tags = t.Array(t.String({ minLength: 1, maxLength: 128 }), { maxItems: 100 })

export const QueueStatusPayload = t.Object(
  {
    type: t.Literal('QueueStatus'),
    total_jobs: JsonInt({ minimum: 0 }),
    running: JsonInt({ minimum: 0 }),
    pending: JsonInt({ minimum: 0 }),
  },
  { additionalProperties: false },
)
export const JobQueuedPayload = t.Object(
  { type: t.Literal('JobQueued'), job_id: id, job_type: jobType, note_id: noteId },
  { additionalProperties: false },
)
export const JobStartedPayload = t.Object(
  { type: t.Literal('JobStarted'), job_id: id, job_type: jobType, note_id: noteId },
  { additionalProperties: false },
)
export const JobProgressPayload = t.Object(
  {
    type: t.Literal('JobProgress'),
    job_id: id,
    // Always present on this server's own jobs; absent only when an external publisher reported progress of a
    // job this server does not run and gave no type.
    job_type: t.Optional(jobType),
    note_id: noteId,
    progress: JsonInt({ minimum: 0, maximum: 100 }),
    // Always sent by this server (equal to `progress`); optional in the schema because other Fortemi producers
    // send `progress` alone, and their events are valid envelopes too.
    progress_percent: t.Optional(JsonInt({ minimum: 0, maximum: 100 })),
    message: t.Optional(t.String({ maxLength: 1000 })),
  },
  { additionalProperties: false },
)
export const JobCompletedPayload = t.Object(
  {
    type: t.Literal('JobCompleted'),
    job_id: id,
    job_type: jobType,
    note_id: noteId,
    duration_ms: t.Optional(JsonInt({ minimum: 0 })),
  },
  { additionalProperties: false },
)
export const JobFailedPayload = t.Object(
  {
    type: t.Literal('JobFailed'),
    job_id: id,
    job_type: jobType,
    note_id: noteId,
    error: t.String({ maxLength: 1000 }),
  },
  { additionalProperties: false },
)
export const NoteUpdatedPayload = t.Object(
  {
    type: t.Literal('NoteUpdated'),
    note_id: id,
    title: t.Optional(t.String({ maxLength: 1000 })),
    tags,
    has_ai_content: t.Boolean(),
    has_links: t.Boolean(),
  },
  { additionalProperties: false },
)
export const NoteCreatedPayload = t.Object(
  { type: t.Literal('NoteCreated'), note_id: id, title: t.Optional(t.String({ maxLength: 1000 })), tags },
  { additionalProperties: false },
)
export const NoteDeletedPayload = t.Object({ type: t.Literal('NoteDeleted'), note_id: id }, { additionalProperties: false })
const pauseScope = t.String({
  minLength: 1,
  maxLength: 128,
  description: '`global` when every memory was paused or resumed, `archive` when only the envelope `memory` was (Fortemi calls a memory an archive)',
})
export const JobsPausedPayload = t.Object({ type: t.Literal('JobsPaused'), scope: pauseScope }, { additionalProperties: false })
export const JobsResumedPayload = t.Object({ type: t.Literal('JobsResumed'), scope: pauseScope }, { additionalProperties: false })
/**
 * A webhook endpoint the outbox disabled by itself (too many consecutive failures, or 410 Gone): on SSE and to the
 * memory's other webhooks that subscribe to it, never on the WebSocket. No URL (it may carry the receiver's token).
 */
export const WebhookDisabledPayload = t.Object(
  {
    type: t.Literal('WebhookDisabled'),
    webhook_id: id,
    reason: t.String({ maxLength: 1000, description: 'Why it was disabled, as `disabled_reason` on the webhook' }),
    cause: t.Union([t.Literal('consecutive_failures'), t.Literal('gone')], { description: '`gone` when the receiver answered 410' }),
    consecutive_failures: JsonInt({ minimum: 0 }),
  },
  { additionalProperties: false },
)

/**
 * JobProgress as other Fortemi components publish it (`POST /api/v1/events`): `progress` or `progress_percent`
 * (at least one), `job_type` optional. The server completes it to the wire shape (both progress fields; the job
 * type of a job it knows) before emitting: see `completeJobProgress`.
 */
export const JobProgressInput = t.Object(
  {
    type: t.Literal('JobProgress'),
    job_id: id,
    job_type: t.Optional(jobType),
    note_id: noteId,
    progress: t.Optional(JsonInt({ minimum: 0, maximum: 100 })),
    progress_percent: t.Optional(JsonInt({ minimum: 0, maximum: 100 })),
    message: t.Optional(t.String({ maxLength: 1000 })),
  },
  { additionalProperties: false },
)

export const EventPayload = t.Union(
  [
    QueueStatusPayload,
    JobQueuedPayload,
    JobStartedPayload,
    JobProgressPayload,
    JobCompletedPayload,
    JobFailedPayload,
    NoteUpdatedPayload,
    NoteCreatedPayload,
    NoteDeletedPayload,
    JobsPausedPayload,
    JobsResumedPayload,
    WebhookDisabledPayload,
  ],
  { description: 'Event payload; `type` is the legacy (HotM) name' },
)

/**
 * What external publishers may send: every payload but `QueueStatus` (the server owns the counts every
 * client's counters are corrected to), with the lenient upstream JobProgress.
 */
export const PublishablePayload = t.Union(
  [
    JobQueuedPayload,
    JobStartedPayload,
    JobProgressInput,
    JobCompletedPayload,
    JobFailedPayload,
    NoteUpdatedPayload,
    NoteCreatedPayload,
    NoteDeletedPayload,
    JobsPausedPayload,
    JobsResumedPayload,
  ],
  { description: 'Event payload (`type` = legacy name); `QueueStatus` is not publishable: the server owns the counts' },
)
export type PublishablePayload = Static<typeof PublishablePayload>

export type QueueStatus = Static<typeof QueueStatusPayload>
export type JobQueued = Static<typeof JobQueuedPayload>
export type JobStarted = Static<typeof JobStartedPayload>
export type JobProgress = Static<typeof JobProgressPayload>
export type JobCompleted = Static<typeof JobCompletedPayload>
export type JobFailed = Static<typeof JobFailedPayload>
export type NoteUpdated = Static<typeof NoteUpdatedPayload>
export type NoteCreated = Static<typeof NoteCreatedPayload>
export type NoteDeleted = Static<typeof NoteDeletedPayload>
export type JobsPaused = Static<typeof JobsPausedPayload>
export type JobsResumed = Static<typeof JobsResumedPayload>
export type WebhookDisabled = Static<typeof WebhookDisabledPayload>
export type Payload = Static<typeof EventPayload>
export type LegacyType = Payload['type']

/** Legacy payload type ↔ dotted event_type. */
export const EVENT_TYPES = {
  QueueStatus: 'queue.status',
  JobQueued: 'job.queued',
  JobStarted: 'job.started',
  JobProgress: 'job.progress',
  JobCompleted: 'job.completed',
  JobFailed: 'job.failed',
  NoteUpdated: 'note.updated',
  NoteCreated: 'note.created',
  NoteDeleted: 'note.deleted',
  JobsPaused: 'jobs.paused',
  JobsResumed: 'jobs.resumed',
  WebhookDisabled: 'webhook.disabled',
} as const satisfies Record<LegacyType, string>

export type EventType = (typeof EVENT_TYPES)[LegacyType]

export const PAYLOAD_SCHEMAS: Record<LegacyType, TSchema> = {
  QueueStatus: QueueStatusPayload,
  JobQueued: JobQueuedPayload,
  JobStarted: JobStartedPayload,
  JobProgress: JobProgressPayload,
  JobCompleted: JobCompletedPayload,
  JobFailed: JobFailedPayload,
  NoteUpdated: NoteUpdatedPayload,
  NoteCreated: NoteCreatedPayload,
  NoteDeleted: NoteDeletedPayload,
  JobsPaused: JobsPausedPayload,
  JobsResumed: JobsResumedPayload,
  WebhookDisabled: WebhookDisabledPayload,
}

/** The seven HotM protocol types: the only ones ever written to /api/v1/ws. */
export const HOTM_TYPES: ReadonlySet<LegacyType> = new Set([
  'QueueStatus',
  'JobQueued',
  'JobStarted',
  'JobProgress',
  'JobCompleted',
  'JobFailed',
  'NoteUpdated',
])

export const Actor = t.Object(
  {
    kind: t.Union([t.Literal('system'), t.Literal('user')]),
    id: t.Optional(t.String()),
    name: t.Optional(t.String({ description: 'display name, when the publisher gave one' })),
  },
  { additionalProperties: false },
)
export type Actor = Static<typeof Actor>

export const Envelope = t.Object(
  {
    event_id: t.String({ description: 'UUIDv7, time-ordered' }),
    event_type: t.String({ description: 'dotted event type, e.g. job.completed' }),
    occurred_at: t.String({ format: 'date-time' }),
    memory: t.Optional(t.String()),
    tenant_id: t.Optional(t.String({ description: 'the deployment tenant (MATRIC_TENANT_ID); always present on events of this server' })),
    actor: Actor,
    entity_type: t.Optional(t.String()),
    entity_id: t.Optional(t.String()),
    correlation_id: t.Optional(AnyUuid('ties the events of one operation together (a note write and the jobs it queued)')),
    causation_id: t.Optional(AnyUuid('the event_id of the event that directly caused this one')),
    payload_version: t.Literal(1),
    payload: EventPayload,
  },
  {
    additionalProperties: false,
    examples: [
      {
        event_id: '01936b2e-7c7a-7cc3-9b1e-4f1d2a3b4c5d',
        event_type: 'job.completed',
        occurred_at: '2026-11-27T10:00:00.000Z',
        memory: 'default',
        tenant_id: 'default',
        actor: { kind: 'system' },
        entity_type: 'job',
        entity_id: '0b6f1c1e-8a56-4a43-9d1c-5b6f7a8b9c0d',
        correlation_id: '01936b2e-7a00-7cc3-9b1e-4f1d2a3b4c00',
        causation_id: '01936b2e-7b10-7cc3-9b1e-4f1d2a3b4c10',
        payload_version: 1,
        payload: { type: 'JobCompleted', job_id: '0b6f1c1e-8a56-4a43-9d1c-5b6f7a8b9c0d', job_type: 'Embedding', duration_ms: 42 },
      },
    ],
  },
)
export type Envelope = Static<typeof Envelope>

/** Job types: REST snake_case ↔ event PascalCase. */
export const JOB_TYPES = {
  title_generation: 'TitleGeneration',
  embedding: 'Embedding',
  linking: 'Linking',
  ai_revision: 'AiRevision',
} as const
export type JobTypeName = keyof typeof JOB_TYPES

/** Resolves a dotted name, a prefix (`job`), or a legacy name (`JobCompleted`) to event types; empty = unknown. */
export function expandEventName(name: string): EventType[] {
  const n = name.trim()
  if (n in EVENT_TYPES) return [EVENT_TYPES[n as LegacyType]]
  const all = Object.values(EVENT_TYPES) as EventType[]
  return all.filter((et) => et === n || et.startsWith(n + '.'))
}
