import { Elysia } from 'elysia'
import type { AppContext } from '../../context.ts'
import { jsonBody } from '../../http/body.ts'
import { ErrorBody, ownModels } from '../../http/schemas.ts'
import { CreateJob, Job, JobList, JobParams, JobStats, ListJobsQuery } from './model.ts'

const errors = { 400: 'ErrorBody', 401: 'ErrorBody', 403: 'ErrorBody', 404: 'ErrorBody', 422: 'ErrorBody' } as const

/** REST: /api/v1/jobs (SPEC §3). */
export function jobsController(ctx: AppContext) {
  const svc = ctx.jobService
  return new Elysia({ prefix: '/api/v1/jobs', tags: ['jobs'] })
    .use(ctx.authPlugin)
    .model(ownModels({ Job, JobList, JobStats, CreateJob, ErrorBody }))
    .post(
      '',
      ({ body, set, principal, memory }) => {
        set.status = 201
        return svc.create(memory, principal.tags, body, { kind: 'user', id: principal.sub })
      },
      {
        auth: 'write',
        ...jsonBody(ctx.config.maxBodyBytes, CreateJob),
        body: 'CreateJob',
        response: { 201: 'Job', ...errors },
        detail: { summary: 'Queue a job for a note' },
      },
    )
    .get('', ({ query, principal, memory }) => ({ jobs: ctx.jobs.list({ memory, restriction: principal.tags, status: query.status, noteId: query.note_id, limit: query.limit ?? 100 }) }), {
      auth: 'read',
      query: ListJobsQuery,
      response: { 200: 'JobList', ...errors },
      detail: { summary: 'List jobs, newest first' },
    })
    .get('/stats', ({ principal, memory }) => svc.stats(memory, principal.tags), {
      auth: 'read',
      response: { 200: 'JobStats', ...errors },
      detail: { summary: 'Queue counts', description: 'total_jobs = pending + running, the same numbers a QueueStatus event carries.' },
    })
    .get('/:id', ({ params, principal, memory }) => svc.get(memory, principal.tags, params.id), {
      auth: 'read',
      params: JobParams,
      response: { 200: 'Job', ...errors },
      detail: { summary: 'Get a job' },
    })
}
