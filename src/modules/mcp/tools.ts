import { Type, type Static, type TSchema } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { requireScope, type Principal, type Scope } from '../../auth/principal.ts'
import type { McpDeps } from './deps.ts'
import { JOB_TYPES, UUID_PATTERN, type JobTypeName } from '../../events/catalog.ts'
import { badRequest } from '../../http/errors.ts'
import { CONTENT_MAX } from '../notes/model.ts'
import type { Caller } from '../notes/service.ts'
import { SEARCH_LIMIT_MAX, SEARCH_QUERY_MAX, type SearchService } from '../search/service.ts'
import type { EventsSince } from './events-since.ts'
import type { Waits } from './waits.ts'

/** The longest a waiting tool blocks (Claude Desktop and claude.ai drop tool results after about 60 s). */
export const WAIT_MAX_S = 50
const WAIT_DEFAULT_S = 25

/** What a tool sees of its call: who calls, where, and how to report progress. */
export interface ToolCall {
  ctx: McpDeps
  principal: Principal
  caller: Caller
  search: SearchService
  waits: Waits
  events: EventsSince
  signal: AbortSignal
  /** Sends notifications/progress when the client asked for it (a progress token); values must increase. */
  progress: (progress: number, total?: number, message?: string) => void
}

export interface ToolDef<S extends TSchema = TSchema> {
  name: string
  title: string
  description: string
  input: S
  scope: Scope
  annotations: { readOnlyHint?: boolean; destructiveHint?: boolean; idempotentHint?: boolean; openWorldHint?: boolean }
  run: (call: ToolCall, args: Static<S>) => Promise<Record<string, unknown>> | Record<string, unknown>
}

const Uuid = (description: string) => Type.String({ pattern: UUID_PATTERN, maxLength: 36, description })
const Tag = Type.String({ minLength: 1, maxLength: 128, pattern: '\\S' })
const Tags = (description: string) => Type.Array(Tag, { maxItems: 100, description })
const TimeoutS = Type.Integer({ minimum: 1, maximum: WAIT_MAX_S, default: WAIT_DEFAULT_S, description: `seconds to wait before returning timed_out (1–${WAIT_MAX_S}, default ${WAIT_DEFAULT_S}); call again to keep waiting` })
const JobType = Type.Union((Object.keys(JOB_TYPES) as JobTypeName[]).map((n) => Type.Literal(n)), { description: 'title_generation | embedding | linking | ai_revision' })
const obj = <P extends Record<string, TSchema>>(props: P) => Type.Object(props, { additionalProperties: false })

function tool<S extends TSchema>(d: ToolDef<S>): ToolDef {
  return d as unknown as ToolDef
}

const READ = { readOnlyHint: true, openWorldHint: false } as const

/** The tool list as shipped; docs/mcp.md describes each with an example. */
export const TOOLS: readonly ToolDef[] = [
  tool({
    name: 'search_notes',
    title: 'Search notes',
    description:
      'Find notes by meaning and keywords. Ranks the notes you may read by cosine similarity between the query and each ' +
      "note's embedding, combined with keyword matches in title and content. Returns note_id, title, tags, score (0–1, " +
      'best first), similarity, keyword_matches and a snippet per hit — call get_note for the full content. Notes created ' +
      'seconds ago are found by keyword until their embedding exists (wait_for_note_ready).',
    input: obj({
      query: Type.String({ minLength: 1, maxLength: SEARCH_QUERY_MAX, description: 'what to look for, in words' }),
      tags: Type.Optional(Tags('only notes carrying at least one of these tags')),
      limit: Type.Optional(Type.Integer({ minimum: 1, maximum: SEARCH_LIMIT_MAX, default: 10, description: `results (1–${SEARCH_LIMIT_MAX}, default 10)` })),
    }),
    scope: 'read',
    annotations: READ,
    run: async (c, a) => ({ ...(await c.search.search(c.caller, { q: a.query, tags: a.tags, limit: a.limit })) }),
  }),
  tool({
    name: 'list_notes',
    title: 'List notes',
    description:
      'List notes newest first, optionally only those with one tag. Returns {notes, next_cursor}; pass next_cursor back as ' +
      'cursor for the next page (null = last page). Each note has id, title, content, tags, links and timestamps.',
    input: obj({
      tag: Type.Optional(Type.String({ minLength: 1, maxLength: 128, description: 'only notes carrying this tag' })),
      limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20, description: 'notes per page (1–100, default 20)' })),
      cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 512, description: 'next_cursor of the previous page' })),
    }),
    scope: 'read',
    annotations: READ,
    run: (c, a) => c.ctx.noteService.list(c.caller, { tag: a.tag, limit: a.limit ?? 20, cursor: a.cursor }),
  }),
  tool({
    name: 'get_note',
    title: 'Get a note',
    description: 'Read one note by id: title, full content, tags, has_ai_content, links [{note_id, score}] to similar notes, timestamps.',
    input: obj({ note_id: Uuid('the note id') }),
    scope: 'read',
    annotations: READ,
    run: (c, a) => c.ctx.noteService.get(c.caller, a.note_id),
  }),
  tool({
    name: 'create_note',
    title: 'Create a note',
    description:
      'Create a note from Markdown content. Without a title one is generated; an embedding and links to similar notes ' +
      'follow in the background — call wait_for_note_ready with the returned id to get the note once they exist. ' +
      'A tag-restricted token must give the note at least one of its tags.',
    input: obj({
      content: Type.String({ minLength: 1, maxLength: CONTENT_MAX, description: 'Markdown text of the note' }),
      title: Type.Optional(Type.String({ minLength: 1, maxLength: 500, description: 'omit to have one generated from the first heading or sentence' })),
      tags: Type.Optional(Tags('tags for the note (at most 100)')),
    }),
    scope: 'write',
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
    run: (c, a) => c.ctx.noteService.create(c.caller, a),
  }),
  tool({
    name: 'update_note',
    title: 'Update a note',
    description:
      'Change the content, title and/or tags of a note (only the fields you pass). A content change recomputes the ' +
      'embedding and links in the background (wait_for_note_ready). title: null clears the title.',
    input: obj({
      note_id: Uuid('the note to change'),
      content: Type.Optional(Type.String({ minLength: 1, maxLength: CONTENT_MAX })),
      title: Type.Optional(Type.Union([Type.String({ minLength: 1, maxLength: 500 }), Type.Null()])),
      tags: Type.Optional(Tags('the complete new tag list')),
    }),
    scope: 'write',
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: false },
    run: (c, a) => {
      const { note_id, ...patch } = a
      if (!Object.keys(patch).length) throw badRequest('pass at least one of content, title, tags')
      return c.ctx.noteService.update(c.caller, note_id, patch)
    },
  }),
  tool({
    name: 'set_note_tags',
    title: "Replace a note's tags",
    description: 'Replace all tags of a note with the given list (an empty list removes every tag). Returns the note.',
    input: obj({ note_id: Uuid('the note'), tags: Tags('the complete new tag list') }),
    scope: 'write',
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: false },
    run: (c, a) => c.ctx.noteService.setTags(c.caller, a.note_id, a.tags),
  }),
  tool({
    name: 'delete_note',
    title: 'Delete a note',
    description: 'Delete a note for good; its pending jobs are cancelled and links to it disappear. Returns {deleted: true, note_id}.',
    input: obj({ note_id: Uuid('the note to delete') }),
    scope: 'write',
    annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: false },
    run: async (c, a) => {
      await c.ctx.noteService.delete(c.caller, a.note_id)
      return { deleted: true, note_id: a.note_id }
    },
  }),
  tool({
    name: 'create_job',
    title: 'Queue a job',
    description:
      'Queue a background job for a note: title_generation, embedding, linking or ai_revision (rewrites the content ' +
      'through the configured language model). Returns the job (status pending); follow it with wait_for_job.',
    input: obj({
      job_type: JobType,
      note_id: Uuid('the note the job works on'),
      priority: Type.Optional(Type.Integer({ minimum: -100, maximum: 100, description: 'higher runs first; default depends on the job type' })),
    }),
    scope: 'write',
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
    run: (c, a) => c.ctx.jobService.create(c.caller.memory, c.caller.restriction, a, c.caller.actor),
  }),
  tool({
    name: 'get_job',
    title: 'Get a job',
    description: 'Read one job: status (pending|running|completed|failed|cancelled), progress_percent, progress_message, error, timings.',
    input: obj({ job_id: Uuid('the job id') }),
    scope: 'read',
    annotations: READ,
    run: (c, a) => c.ctx.jobService.get(c.caller.memory, c.caller.restriction, a.job_id),
  }),
  tool({
    name: 'list_jobs',
    title: 'List jobs',
    description: 'List jobs newest first, optionally by status and/or note. Returns {jobs, total}; page with offset.',
    input: obj({
      status: Type.Optional(Type.Union(['pending', 'running', 'completed', 'failed', 'cancelled'].map((s) => Type.Literal(s)))),
      note_id: Type.Optional(Uuid('only jobs of this note')),
      limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20 })),
      offset: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000 })),
    }),
    scope: 'read',
    annotations: READ,
    run: (c, a) => c.ctx.jobs.list({ memory: c.caller.memory, restriction: c.caller.restriction, status: a.status, noteId: a.note_id, limit: a.limit ?? 20, offset: a.offset }),
  }),
  tool({
    name: 'queue_stats',
    title: 'Queue counts',
    description: 'Counts of the job queue you may see: total_jobs (= pending + running), running, pending, completed, failed, and the last hour.',
    input: obj({}),
    scope: 'read',
    annotations: READ,
    run: (c) => c.ctx.jobService.stats(c.caller.memory, c.caller.restriction),
  }),
  tool({
    name: 'wait_for_job',
    title: 'Wait for a job',
    description:
      'Block until a job completes, fails or is cancelled, instead of polling get_job. While it waits, progress is sent ' +
      'as notifications/progress (when your client sent a progress token). Returns {job, timed_out: false} at the end; ' +
      `after timeout_s (at most ${WAIT_MAX_S}) it returns {job_id, status, progress_percent, timed_out: true} — call again to keep waiting.`,
    input: obj({ job_id: Uuid('the job to wait for'), timeout_s: Type.Optional(TimeoutS) }),
    scope: 'read',
    annotations: READ,
    run: async (c, a) => {
      const r = await c.waits.job(c.caller, a.job_id, (a.timeout_s ?? WAIT_DEFAULT_S) * 1000, c.signal, c.progress)
      return r.timed_out ? { job_id: r.job.id, status: r.job.status, progress_percent: r.job.progress_percent, timed_out: true } : { job: r.job, timed_out: false }
    },
  }),
  tool({
    name: 'wait_for_note_ready',
    title: 'Wait until a note is processed',
    description:
      'Block until a new or edited note has its title, its embedding and its links (the title_generation, embedding and ' +
      'linking jobs are done), then return {note, ready: true}. After timeout_s it returns {ready: false, timed_out: true, ' +
      'pending: [job types still open]} — call again. If a pipeline job failed, ready is false with the reason.',
    input: obj({ note_id: Uuid('the note'), timeout_s: Type.Optional(TimeoutS) }),
    scope: 'read',
    annotations: READ,
    run: (c, a) => c.waits.noteReady(c.caller, a.note_id, (a.timeout_s ?? WAIT_DEFAULT_S) * 1000, c.signal, c.progress),
  }),
  tool({
    name: 'revise_note',
    title: 'Revise a note with AI',
    description:
      'Queue an ai_revision of a note (the language model improves clarity, structure and grammar, keeping every fact) ' +
      'and, with wait (default true), wait for it and return {job, note} with the revised content. Progress arrives as ' +
      `notifications/progress. On timeout (timeout_s, at most ${WAIT_MAX_S}) it returns {job_id, status, timed_out: true}: ` +
      'continue with wait_for_job. A failed revision is a tool error naming the reason.',
    input: obj({
      note_id: Uuid('the note to revise'),
      instructions: Type.Optional(Type.String({ minLength: 1, maxLength: 2000, description: 'what to change, e.g. "make it a short checklist" (default: clarity, structure, grammar)' })),
      wait: Type.Optional(Type.Boolean({ default: true, description: 'false: return the queued job at once' })),
      timeout_s: Type.Optional(TimeoutS),
    }),
    scope: 'write',
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: true },
    run: async (c, a) => {
      const job = await c.ctx.jobService.create(c.caller.memory, c.caller.restriction, { job_type: 'ai_revision', note_id: a.note_id, instructions: a.instructions }, c.caller.actor)
      if (a.wait === false) return { job, timed_out: false }
      const r = await c.waits.job(c.caller, job.id, (a.timeout_s ?? WAIT_DEFAULT_S) * 1000, c.signal, c.progress)
      if (r.timed_out) return { job_id: job.id, status: r.job.status, progress_percent: r.job.progress_percent, timed_out: true }
      if (r.job.status !== 'completed') throw badRequest(`ai_revision ${job.id} ${r.job.status}: ${r.job.error ?? 'no reason recorded'}`)
      return { job: r.job, note: await c.ctx.noteService.get(c.caller, a.note_id), timed_out: false }
    },
  }),
  tool({
    name: 'events_since',
    title: 'Events since a cursor',
    description:
      'Pull events (note.created, note.updated, note.deleted, job.queued, job.started, job.progress, job.completed, ' +
      'job.failed, …) from the durable event log, oldest first, with the same visibility as the SSE stream. Without a ' +
      'cursor it starts at the oldest retained event (from: "now": only what happens from now on); pass next_cursor ' +
      'back to continue without gaps or repeats. An SSE event ' +
      'id works as a cursor too. types filters like SSE ?types= (job = every job.* event). gap: true means retention ' +
      'removed events after your cursor. has_more: true means call again now.',
    input: obj({
      cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 128, description: 'next_cursor of the previous call, or an event id' })),
      from: Type.Optional(Type.Union([Type.Literal('oldest'), Type.Literal('now')], { description: 'where to start without a cursor (default oldest)' })),
      types: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { minItems: 1, maxItems: 50, description: 'event types or prefixes, e.g. ["job.completed", "note"]' })),
      limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50, description: 'events per call (1–200, default 50)' })),
    }),
    scope: 'read',
    annotations: READ,
    run: async (c, a) => ({ ...(await c.events.page(c.caller, { cursor: a.cursor, from: a.from, types: a.types, limit: a.limit ?? 50 })) }),
  }),
]

export const TOOL_NAMES = TOOLS.map((t) => t.name)
const BY_NAME = new Map(TOOLS.map((t) => [t.name, t]))

export function toolByName(name: string): ToolDef | undefined {
  return BY_NAME.get(name)
}

/** The JSON Schema a client sees (TypeBox schemas are JSON Schema; the copy drops TypeBox's symbol keys). */
export function listedTools(): { name: string; title: string; description: string; inputSchema: { type: 'object'; [k: string]: unknown }; annotations: ToolDef['annotations'] }[] {
  return TOOLS.map((t) => ({
    name: t.name,
    title: t.title,
    description: t.description + (t.scope === 'write' ? ' Needs the write scope.' : ''),
    inputSchema: JSON.parse(JSON.stringify(t.input)) as { type: 'object' },
    annotations: t.annotations,
  }))
}

/** The arguments if they match the tool's schema; else a message naming the first problems (for the model to fix). */
export function checkArguments(t: ToolDef, args: unknown): { ok: true; value: unknown } | { ok: false; message: string } {
  const value = args ?? {}
  if (Value.Check(t.input, value)) return { ok: true, value }
  const problems: string[] = []
  const paths = new Set<string>()
  for (const e of Value.Errors(t.input, value)) {
    const where = e.path || '(arguments)'
    // One problem per property (a missing one also fails its type check).
    if (paths.has(where)) continue
    paths.add(where)
    const msg = e.schema && (e.schema as { additionalProperties?: unknown }).additionalProperties === false && /additional|Unexpected/i.test(e.message) ? 'unknown property' : e.message
    problems.push(`${where}: ${msg}`)
    if (problems.length >= 5) break
  }
  return { ok: false, message: `invalid arguments for ${t.name}: ${problems.join('; ')}` }
}

export function ensureScope(p: Principal, t: ToolDef): void {
  requireScope(p, t.scope)
}
