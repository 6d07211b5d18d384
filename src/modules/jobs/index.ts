import { Elysia } from 'elysia'
import { grantsMemory, selectMemory, type Principal } from '../../auth/principal.ts'
import type { AppContext } from '../../context.ts'
import { jsonBody } from '../../http/body.ts'
import { forbidden } from '../../http/errors.ts'
import { ErrorBody, ownModels } from '../../http/schemas.ts'
import { CreateJob, Job, JobList, JobParams, JobPauseResult, JobPauseState, JobStats, ListJobsQuery, PauseParams } from './model.ts'
import type { PauseScope } from './pause.ts'

/** What this module uses of the composition root (src/context.ts). */
export type JobsDeps = Pick<AppContext, 'authPlugin' | 'config' | 'jobPauses' | 'jobService' | 'jobs'>

/**
 * Who may pause or resume: an admin without a tag restriction, of every memory for a global pause, of the
 * memory for a per-memory one (a pause affects every note of its scope).
 */
function pauseScope(principal: Principal, memory: string | undefined): PauseScope {
  if (principal.tags) throw forbidden('pausing jobs needs a principal without a tag restriction')
  if (memory === undefined) {
    if (principal.memories !== '*') throw forbidden("a global pause needs a token granting every memory ('*'); pause one memory with /pause/{memory}")
    return { kind: 'global' }
  }
  return { kind: 'memory', memory: selectMemory(principal, memory) }
}

const errors = { 400: 'ErrorBody', 401: 'ErrorBody', 403: 'ErrorBody', 404: 'ErrorBody', 422: 'ErrorBody' } as const

/** REST: /api/v1/jobs (documented in the API reference, /docs). */
export function jobsController(ctx: JobsDeps) {
  const svc = ctx.jobService
  return new Elysia({ prefix: '/api/v1/jobs', tags: ['jobs'] })
    .use(ctx.authPlugin)
    .model(ownModels({ Job, JobList, JobStats, CreateJob, JobPauseState, JobPauseResult, ErrorBody }))
    .post(
      '',
      async ({ body, set, principal, memory }) => {
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
    .get('', async ({ query, principal, memory }) => ctx.jobs.list({ memory, restriction: principal.tags, status: query.status, noteId: query.note_id, limit: query.limit ?? 100, offset: query.offset }), {
      auth: 'read',
      query: ListJobsQuery,
      response: { 200: 'JobList', ...errors },
      detail: { summary: 'List jobs, newest first' },
    })
    .get('/stats', async ({ principal, memory }) => svc.stats(memory, principal.tags), {
      auth: 'read',
      response: { 200: 'JobStats', ...errors },
      detail: { summary: 'Queue counts', description: 'total_jobs = pending + running, the same numbers a QueueStatus event carries.' },
    })
    .get(
      '/status',
      async ({ principal, memory }) => {
        const [st, c] = await Promise.all([ctx.jobPauses.state(), ctx.jobs.counts(memory, principal.tags)])
        const visible = st.memories.filter((m) => grantsMemory(principal, m))
        return { global: st.global ? ('paused' as const) : ('running' as const), archives: Object.fromEntries(visible.map((m) => [m, 'paused' as const])), queue: { pending: c.pending, running: c.running } }
      },
      {
        auth: 'read',
        response: { 200: 'JobPauseState', ...errors },
        detail: { summary: 'Job processing pause state', description: 'Whether job processing is paused globally and which of your memories are paused.' },
      },
    )
    .post('/pause', async ({ principal }) => pauseRoute(ctx, principal, undefined, 'pause'), pauseHooks('Pause job processing everywhere', "admin of every memory ('*')"))
    .post('/resume', async ({ principal }) => pauseRoute(ctx, principal, undefined, 'resume'), pauseHooks('Resume job processing everywhere', "admin of every memory ('*')"))
    .post('/pause/:memory', async ({ principal, params }) => pauseRoute(ctx, principal, params.memory, 'pause'), { params: PauseParams, ...pauseHooks('Pause job processing of one memory', 'admin of that memory') })
    .post('/resume/:memory', async ({ principal, params }) => pauseRoute(ctx, principal, params.memory, 'resume'), { params: PauseParams, ...pauseHooks('Resume job processing of one memory', 'admin of that memory') })
    .get('/:id', async ({ params, principal, memory }) => svc.get(memory, principal.tags, params.id), {
      auth: 'read',
      params: JobParams,
      response: { 200: 'Job', ...errors },
      detail: { summary: 'Get a job' },
    })
}

async function pauseRoute(ctx: JobsDeps, principal: Principal, memory: string | undefined, action: 'pause' | 'resume') {
  const scope = pauseScope(principal, memory)
  const actor = { kind: 'user' as const, id: principal.sub }
  const changed = await (action === 'pause' ? ctx.jobPauses.pause(scope, actor) : ctx.jobPauses.resume(scope, actor))
  return {
    status: action === 'pause' ? ('paused' as const) : ('resumed' as const),
    ...(scope.kind === 'global' ? { scope: 'global' as const } : { scope: 'archive' as const, archive: scope.memory }),
    changed,
  }
}

const pauseHooks = (summary: string, who: string) =>
  ({
    auth: 'admin',
    response: { 200: 'JobPauseResult', ...errors },
    detail: {
      summary,
      description:
        `Needs ${who}, without a tag restriction. Paused jobs stay pending (running ones finish); the state survives restarts. ` +
        'A change emits jobs.paused / jobs.resumed on SSE and webhooks; repeating it changes nothing (changed: false).',
    },
  }) as const
