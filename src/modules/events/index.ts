import { Elysia, t } from 'elysia'
import type { AppContext } from '../../context.ts'
import { EventPayload, type Payload } from '../../events/catalog.ts'
import type { EventDraft } from '../../events/bus.ts'
import { selectMemory } from '../../auth/principal.ts'
import { jsonBody } from '../../http/body.ts'
import { ErrorBody, ownModels } from '../../http/schemas.ts'

export const PublishEvent = t.Object(
  {
    memory: t.Optional(t.String({ description: 'Target memory; defaults to the request memory' })),
    payload: EventPayload,
  },
  {
    additionalProperties: false,
    examples: [{ memory: 'default', payload: { type: 'JobProgress', job_id: 'ext-42', job_type: 'Import', progress: 50, progress_percent: 50, message: 'halfway' } }],
  },
)

export const Published = t.Object({ event_id: t.String() }, { additionalProperties: false, examples: [{ event_id: '01936b2e-7c7a-7cc3-9b1e-4f1d2a3b4c5d' }] })

/** The note an external payload concerns, for visibility tags and the envelope's entity. */
function entityOf(ctx: AppContext, memory: string, p: Payload): Pick<EventDraft, 'entityType' | 'entityId' | 'tags'> {
  const noteId = 'note_id' in p ? p.note_id : undefined
  const note = noteId ? ctx.notes.get(noteId) : null
  const tags = note && note.memory === memory ? note.tags : null
  if ('job_id' in p) return { entityType: 'job', entityId: p.job_id, tags }
  if (noteId) return { entityType: 'note', entityId: noteId, tags }
  return { entityType: 'queue', tags }
}

/** External publishers: POST /api/v1/events (admin) emits a validated payload like an internal event. */
export function eventsController(ctx: AppContext) {
  return new Elysia({ prefix: '/api/v1/events', tags: ['events'] })
    .use(ctx.authPlugin)
    .model(ownModels({ PublishEvent, Published, ErrorBody }))
    .post(
      '',
      ({ body, set, principal, memory: requestMemory }) => {
        const memory = body.memory === undefined ? requestMemory : selectMemory(principal, body.memory)
        const e = ctx.bus.publish({ memory, payload: body.payload, actor: { kind: 'user', id: principal.sub }, ...entityOf(ctx, memory, body.payload) })
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
          description: 'The payload is validated against the event catalog and delivered on every transport like an internal event.',
        },
      },
    )
}
