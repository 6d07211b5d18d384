import { Elysia, t } from 'elysia'
import type { AppContext } from '../../context.ts'
import { AnyUuid, JOB_TYPES, PublishablePayload, type JobProgress, type Payload } from '../../events/catalog.ts'
import type { EventDraft } from '../../events/bus.ts'
import { selectMemory } from '../../auth/principal.ts'
import { jsonBody } from '../../http/body.ts'
import { forbidden, unprocessable } from '../../http/errors.ts'
import { ErrorBody, ownModels } from '../../http/schemas.ts'
import type { JobStore } from '../jobs/store.ts'

/** What this module uses of the composition root (src/context.ts). */
export type PublishDeps = Pick<AppContext, 'authPlugin' | 'bus' | 'config' | 'jobs' | 'notes' | 'queueStatus'>

export const PublishEvent = t.Object(
  {
    memory: t.Optional(t.String({ description: 'Target memory; defaults to the request memory' })),
    payload: PublishablePayload,
    correlation_id: t.Optional(AnyUuid('carried on the envelope: ties this event to the operation it belongs to')),
    causation_id: t.Optional(AnyUuid('carried on the envelope: the event_id of the event that caused this one')),
  },
  {
    additionalProperties: false,
    examples: [{ memory: 'default', payload: { type: 'JobProgress', job_id: 'ext-42', job_type: 'Import', progress: 50, message: 'halfway' } }],
  },
)

export const Published = t.Object({ event_id: t.String() }, { additionalProperties: false, examples: [{ event_id: '01936b2e-7c7a-7cc3-9b1e-4f1d2a3b4c5d' }] })

/**
 * Completes an upstream JobProgress to the wire shape: both `progress` and `progress_percent` (one derived from
 * the other), and the job type when the publisher left it out but the job is one of this memory's.
 */
export function completeJobProgress(p: PublishablePayload & { type: 'JobProgress' }, jobType: string | undefined): JobProgress {
  const percent = p.progress_percent ?? p.progress
  if (percent === undefined) throw unprocessable('invalid request body: JobProgress needs progress or progress_percent (0-100)')
  if (p.progress !== undefined && p.progress_percent !== undefined && p.progress !== p.progress_percent)
    throw unprocessable('invalid request body: JobProgress progress and progress_percent differ')
  return {
    type: 'JobProgress',
    job_id: p.job_id,
    ...(jobType !== undefined ? { job_type: jobType } : {}),
    ...(p.note_id !== undefined ? { note_id: p.note_id } : {}),
    progress: percent,
    progress_percent: percent,
    ...(p.message !== undefined ? { message: p.message } : {}),
  }
}

const JOB_LIFECYCLE: ReadonlySet<string> = new Set(['JobQueued', 'JobStarted', 'JobCompleted', 'JobFailed'])

/** The catalog job type of a job of this memory (an external JobProgress may leave it out). */
async function jobTypeIn(jobs: JobStore, memory: string, jobId: string): Promise<string | undefined> {
  const job = await jobs.get(jobId)
  return job && job.memory === memory ? JOB_TYPES[job.job_type] : undefined
}

/** The note an external payload concerns, for visibility tags and the envelope's entity. */
async function entityOf(ctx: PublishDeps, memory: string, p: Payload): Promise<Pick<EventDraft, 'entityType' | 'entityId' | 'tags'>> {
  const noteId = 'note_id' in p ? p.note_id : undefined
  const note = noteId ? await ctx.notes.get(noteId) : null
  const tags = note && note.memory === memory ? note.tags : null
  if ('job_id' in p) return { entityType: 'job', entityId: p.job_id, tags }
  if (noteId) return { entityType: 'note', entityId: noteId, tags }
  return { entityType: 'queue', tags }
}

/** External publishers: POST /api/v1/events (admin) emits a validated payload like an internal event. */
export function publishController(ctx: PublishDeps) {
  return new Elysia({ prefix: '/api/v1/events', tags: ['events'] })
    .use(ctx.authPlugin)
    .model(ownModels({ PublishEvent, Published, ErrorBody }))
    .post(
      '',
      async ({ body, set, principal, memory: requestMemory }) => {
        // A tag-restricted principal may not speak for the notes it cannot see (nor for the memory as a whole).
        if (principal.tags) throw forbidden('publishing events needs a principal without a tag restriction')
        const memory = body.memory === undefined ? requestMemory : selectMemory(principal, body.memory)
        const p = body.payload
        const payload: Payload = p.type === 'JobProgress' ? completeJobProgress(p, p.job_type ?? (await jobTypeIn(ctx.jobs, memory, p.job_id))) : p
        const entity = await entityOf(ctx, memory, payload)
        const e = ctx.bus.publish({
          memory,
          payload,
          actor: { kind: 'user', id: principal.sub },
          ...entity,
          correlationId: body.correlation_id,
          causationId: body.causation_id,
        })
        // Counters apply job deltas whatever their source; a trailing QueueStatus brings them back to the server's
        // counts (an external JobQueued for a job this server does not run would otherwise skew them for good).
        if (JOB_LIFECYCLE.has(payload.type)) ctx.queueStatus.markDirty(memory)
        set.status = 202
        return { event_id: e.envelope.event_id }
      },
      {
        auth: 'admin',
        ...jsonBody(ctx.config.maxBodyBytes, PublishEvent),
        body: 'PublishEvent',
        response: { 202: 'Published', 400: 'ErrorBody', 401: 'ErrorBody', 403: 'ErrorBody', 422: 'ErrorBody' },
        detail: {
          summary: 'Publish an event',
          description:
            'The payload is validated against the event catalog and delivered on every transport like an internal event. Admin of the memory ' +
            'without a tag restriction. `QueueStatus` is refused (the server owns the counts); a JobProgress may carry `progress` or ' +
            '`progress_percent` and omit `job_type`: both progress fields are sent on every transport.',
        },
      },
    )
}
