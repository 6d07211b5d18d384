import { t, type Static, type TSchema } from 'elysia'
import { JsonInt } from '../http/schemas.ts'

/**
 * The event catalog (SPEC §4): one TypeBox schema per payload, the single source of truth for
 * validation (external publishers), documentation (OpenAPI) and types.
 * Optional fields are omitted when absent, never null.
 */
const id = t.String({ minLength: 1, maxLength: 128 })
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
    job_type: jobType,
    note_id: noteId,
    progress: JsonInt({ minimum: 0, maximum: 100 }),
    progress_percent: JsonInt({ minimum: 0, maximum: 100 }),
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
  ],
  { description: 'Event payload; `type` is the legacy (HotM) name' },
)

export type QueueStatus = Static<typeof QueueStatusPayload>
export type JobQueued = Static<typeof JobQueuedPayload>
export type JobStarted = Static<typeof JobStartedPayload>
export type JobProgress = Static<typeof JobProgressPayload>
export type JobCompleted = Static<typeof JobCompletedPayload>
export type JobFailed = Static<typeof JobFailedPayload>
export type NoteUpdated = Static<typeof NoteUpdatedPayload>
export type NoteCreated = Static<typeof NoteCreatedPayload>
export type NoteDeleted = Static<typeof NoteDeletedPayload>
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
} as const satisfies Record<LegacyType, string>

export type EventType = (typeof EVENT_TYPES)[LegacyType]

export const LEGACY_BY_EVENT_TYPE = Object.fromEntries(Object.entries(EVENT_TYPES).map(([k, v]) => [v, k])) as Record<
  EventType,
  LegacyType
>

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
  { kind: t.Union([t.Literal('system'), t.Literal('user')]), id: t.Optional(t.String()) },
  { additionalProperties: false },
)
export type Actor = Static<typeof Actor>

export const Envelope = t.Object(
  {
    event_id: t.String({ description: 'UUIDv7, time-ordered' }),
    event_type: t.String({ description: 'dotted event type, e.g. job.completed' }),
    occurred_at: t.String({ format: 'date-time' }),
    memory: t.Optional(t.String()),
    actor: Actor,
    entity_type: t.Optional(t.String()),
    entity_id: t.Optional(t.String()),
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
        actor: { kind: 'system' },
        entity_type: 'job',
        entity_id: '0b6f1c1e-8a56-4a43-9d1c-5b6f7a8b9c0d',
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
