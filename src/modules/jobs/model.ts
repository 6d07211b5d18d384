import { t, type Static } from 'elysia'
import { JsonInt } from '../../http/schemas.ts'

export const JobTypeName = t.Union(
  [t.Literal('title_generation'), t.Literal('embedding'), t.Literal('linking'), t.Literal('ai_revision')],
  { description: 'Job type (REST snake_case; events use PascalCase)' },
)
export const JobStatus = t.Union([
  t.Literal('pending'),
  t.Literal('running'),
  t.Literal('completed'),
  t.Literal('failed'),
  t.Literal('cancelled'),
])
export type JobStatus = 'pending' | 'running' | 'completed' | 'failed' | 'cancelled'

export const Job = t.Object(
  {
    id: t.String({ format: 'uuid' }),
    memory: t.String(),
    note_id: t.Union([t.String({ format: 'uuid' }), t.Null()]),
    job_type: JobTypeName,
    status: JobStatus,
    priority: JsonInt(),
    progress_percent: JsonInt({ minimum: 0, maximum: 100 }),
    progress_message: t.Union([t.String(), t.Null()]),
    retry_count: JsonInt({ minimum: 0 }),
    max_retries: JsonInt({ minimum: 0 }),
    error: t.Union([t.String(), t.Null()]),
    created_at: t.String({ format: 'date-time' }),
    started_at: t.Union([t.String({ format: 'date-time' }), t.Null()]),
    completed_at: t.Union([t.String({ format: 'date-time' }), t.Null()]),
    duration_ms: t.Union([JsonInt(), t.Null()]),
  },
  {
    // explicit for a stable OpenAPI document (see notes/model.ts)
    additionalProperties: false,
    examples: [
      {
        id: '0193a0c4-2f1e-7b7d-8f3c-1a2b3c4d5e70',
        memory: 'default',
        note_id: '0193a0c4-2f1e-7b7d-8f3c-1a2b3c4d5e6f',
        job_type: 'embedding',
        status: 'completed',
        priority: 5,
        progress_percent: 100,
        progress_message: 'embedding stored',
        retry_count: 0,
        max_retries: 3,
        error: null,
        created_at: '2026-11-27T10:00:00.000Z',
        started_at: '2026-11-27T10:00:00.010Z',
        completed_at: '2026-11-27T10:00:00.030Z',
        duration_ms: 20,
      },
    ],
  },
)
export type Job = Static<typeof Job>

export const CreateJob = t.Object(
  {
    job_type: JobTypeName,
    note_id: t.Optional(t.String({ format: 'uuid' })),
    priority: t.Optional(JsonInt({ minimum: -100, maximum: 100, description: 'Higher runs first; default depends on the job type' })),
    instructions: t.Optional(
      t.String({ minLength: 1, maxLength: 2000, description: 'ai_revision only: what to change ("shorter", "as a checklist"), passed to the model with the note' }),
    ),
  },
  { additionalProperties: false, examples: [{ job_type: 'ai_revision', note_id: '0193a0c4-2f1e-7b7d-8f3c-1a2b3c4d5e6f', instructions: 'Make it a short checklist.' }] },
)
export type CreateJob = Static<typeof CreateJob>

export const JobStats = t.Object(
  {
    total_jobs: JsonInt({ description: 'pending + running (same semantics as QueueStatus)' }),
    running: JsonInt(),
    pending: JsonInt(),
    completed: JsonInt(),
    failed: JsonInt(),
    processing: JsonInt({ description: 'Fortemi name: = running' }),
    completed_last_hour: JsonInt({ description: 'Fortemi name: jobs completed in the last hour' }),
    failed_last_hour: JsonInt({ description: 'Fortemi name: jobs that failed for good in the last hour' }),
    total: JsonInt({ description: 'Fortemi name: every job of the memory, whatever its status (cancelled included)' }),
  },
  {
    additionalProperties: false,
    examples: [{ total_jobs: 3, running: 1, pending: 2, completed: 40, failed: 1, processing: 1, completed_last_hour: 12, failed_last_hour: 0, total: 44 }],
  },
)
export type JobStats = Static<typeof JobStats>

export const ListJobsQuery = t.Object({
  status: t.Optional(JobStatus),
  note_id: t.Optional(t.String({ format: 'uuid' })),
  limit: t.Optional(t.Integer({ minimum: 1, maximum: 500, default: 100 })),
  offset: t.Optional(t.Integer({ minimum: 0, maximum: 1_000_000, description: 'skip this many (newest first)' })),
  memory: t.Optional(t.String()),
})

export const JobList = t.Object(
  { jobs: t.Array(Job), total: JsonInt({ description: 'jobs matching the filter in all (for paging with offset)' }) },
  { additionalProperties: false },
)
export const JobParams = t.Object({ id: t.String({ format: 'uuid' }) })

export const JobPauseState = t.Object(
  {
    global: t.Union([t.Literal('running'), t.Literal('paused')], { description: 'paused = no memory claims new jobs' }),
    archives: t.Record(t.String(), t.Literal('paused'), {
      description: 'Paused memories (Fortemi calls a memory an archive), among those the caller may see; absent = running',
    }),
    queue: t.Object({ pending: JsonInt(), running: JsonInt() }, { additionalProperties: false, description: 'counts of the request memory, as the caller may see them' }),
  },
  { additionalProperties: false, examples: [{ global: 'running', archives: { research: 'paused' }, queue: { pending: 4, running: 0 } }] },
)

export const JobPauseResult = t.Object(
  {
    status: t.Union([t.Literal('paused'), t.Literal('resumed')]),
    scope: t.Union([t.Literal('global'), t.Literal('archive')]),
    archive: t.Optional(t.String({ description: 'the memory, for a per-memory pause' })),
    changed: t.Boolean({ description: 'false when the scope already was in that state (no event is emitted then)' }),
  },
  { additionalProperties: false, examples: [{ status: 'paused', scope: 'archive', archive: 'research', changed: true }] },
)
export const PauseParams = t.Object({ memory: t.String({ description: 'memory (archive) name' }) })
