import { Elysia, t } from 'elysia'
import type { AppContext } from '../../context.ts'
import { jsonBody } from '../../http/body.ts'
import { ErrorBody, ownModels } from '../../http/schemas.ts'
import { CreateNote, ListNotesQuery, Note, NoteList, NoteParams, PatchNote, PutTags } from './model.ts'
import { callerOf } from './service.ts'

/** What this module uses of the composition root (src/context.ts). */
export type NotesDeps = Pick<AppContext, 'authPlugin' | 'config' | 'noteService'>

const errors = { 400: 'ErrorBody', 401: 'ErrorBody', 403: 'ErrorBody', 404: 'ErrorBody', 422: 'ErrorBody' } as const

/** REST: /api/v1/notes (documented in the API reference, /docs). */
export function notesController(ctx: NotesDeps) {
  const svc = ctx.noteService
  return new Elysia({ prefix: '/api/v1/notes', tags: ['notes'] })
    .use(ctx.authPlugin)
    .model(ownModels({ Note, NoteList, CreateNote, PatchNote, PutTags, ErrorBody }))
    .post('', async ({ body, set, principal, memory }) => {
      set.status = 201
      return svc.create(callerOf({ principal, memory }), body)
    }, {
      auth: 'write',
      ...jsonBody(ctx.config.maxBodyBytes, CreateNote),
      body: 'CreateNote',
      response: { 201: 'Note', ...errors },
      detail: { summary: 'Create a note', description: 'Queues title_generation (when no title) and embedding; linking follows the embedding.' },
    })
    .get('', async ({ query, principal, memory }) => svc.list(callerOf({ principal, memory }), query), {
      auth: 'read',
      query: ListNotesQuery,
      response: { 200: 'NoteList', ...errors },
      detail: { summary: 'List notes, newest first (cursor pagination)' },
    })
    .get('/:id', async ({ params, principal, memory }) => svc.get(callerOf({ principal, memory }), params.id), {
      auth: 'read',
      params: NoteParams,
      response: { 200: 'Note', ...errors },
      detail: { summary: 'Get a note' },
    })
    .patch('/:id', async ({ params, body, principal, memory }) => svc.update(callerOf({ principal, memory }), params.id, body), {
      auth: 'write',
      ...jsonBody(ctx.config.maxBodyBytes, PatchNote),
      params: NoteParams,
      body: 'PatchNote',
      response: { 200: 'Note', ...errors },
      detail: { summary: 'Update a note', description: 'A content change re-queues embedding (and then linking).' },
    })
    .put('/:id/tags', async ({ params, body, principal, memory }) => svc.setTags(callerOf({ principal, memory }), params.id, body.tags), {
      auth: 'write',
      ...jsonBody(ctx.config.maxBodyBytes, PutTags),
      params: NoteParams,
      body: 'PutTags',
      response: { 200: 'Note', ...errors },
      detail: { summary: "Replace a note's tags" },
    })
    .delete('/:id', async ({ params, set, principal, memory }) => {
      await svc.delete(callerOf({ principal, memory }), params.id)
      set.status = 204
    }, {
      auth: 'write',
      params: NoteParams,
      response: { 204: t.Void({ description: 'Deleted' }), ...errors },
      detail: { summary: 'Delete a note', description: 'Pending jobs of the note are cancelled.' },
    })
}
