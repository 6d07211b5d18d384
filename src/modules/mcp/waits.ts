import type { PublishedEvent } from '../../events/published.ts'
import type { McpDeps } from './deps.ts'
import type { Job } from '../jobs/model.ts'
import type { Note } from '../notes/model.ts'
import { addTo, removeFrom } from '../../util/set-index.ts'
import type { Caller } from '../notes/service.ts'

type Listener = (e: PublishedEvent) => void

/**
 * Bus events by what they concern, for the waiting tools: `job:<id>` (the job's events), `note:<id>` (the note's
 * events and its jobs' events) and `memory:<name>` (QueueStatus: counts changed without a job event — a retry, a
 * cancellation — so a waiter re-reads its job).
 */
export class Watchers {
  private byKey = new Map<string, Set<Listener>>()

  get size(): number {
    return this.byKey.size
  }

  watch(keys: readonly string[], fn: Listener): () => void {
    for (const k of keys) addTo(this.byKey, k, fn)
    return () => {
      for (const k of keys) removeFrom(this.byKey, k, fn)
    }
  }

  dispatch(e: PublishedEvent): void {
    if (!this.byKey.size) return
    const keys: string[] = []
    const entity = e.envelope.entity_id
    if (entity) keys.push(`${e.envelope.entity_type}:${entity}`)
    const noteId = (e.envelope.payload as { note_id?: unknown }).note_id
    if (typeof noteId === 'string' && e.envelope.entity_type !== 'note') keys.push(`note:${noteId}`)
    if (e.legacyType === 'QueueStatus') keys.push(`memory:${e.memory}`)
    const seen = new Set<Listener>()
    for (const k of keys)
      for (const fn of this.byKey.get(k) ?? []) {
        if (seen.has(fn)) continue
        seen.add(fn)
        fn(e)
      }
  }
}

export const TERMINAL: ReadonlySet<Job['status']> = new Set(['completed', 'failed', 'cancelled'])
const PIPELINE = ['title_generation', 'embedding', 'linking'] as const

export type Progress = (progress: number, total?: number, message?: string) => void

/**
 * Waits until `check` answers (re-checked whenever an event under one of `keys` arrives), or the time runs out, or
 * the client cancels the request. Resolves with the answer, or null on timeout/cancel. `check` runs first, at once.
 */
async function waitUntil<T>(
  watchers: Watchers,
  keys: string[],
  timeoutMs: number,
  signal: AbortSignal,
  check: (e?: PublishedEvent) => Promise<T | null>,
): Promise<T | null> {
  // Events that arrive while a check runs are seen by the next check (checks run one at a time, in event order).
  let checking: Promise<void> = Promise.resolve()
  const first = await check()
  if (first !== null || signal.aborted) return first
  return new Promise((resolve, reject) => {
    let done = false
    const finish = (v: T | null, err?: unknown) => {
      if (done) return
      done = true
      unwatch()
      clearTimeout(timer)
      signal.removeEventListener('abort', onAbort)
      if (err) reject(err)
      else resolve(v)
    }
    const onAbort = () => finish(null)
    const unwatch = watchers.watch(keys, (e) => {
      checking = checking.then(async () => {
        if (done) return
        try {
          const v = await check(e)
          if (v !== null) finish(v)
        } catch (err) {
          finish(null, err)
        }
      })
    })
    const timer = setTimeout(() => finish(null), timeoutMs)
    signal.addEventListener('abort', onAbort, { once: true })
  })
}

/** The waiting tools: a job to its end, a note through its pipeline. Driven by the bus, no polling. */
export class Waits {
  constructor(
    private ctx: McpDeps,
    private watchers: Watchers,
  ) {}

  /**
   * Waits for a job visible to the caller to end. Progress goes to `progress` as it is reported, never decreasing
   * (a retried job starts over at 0; the client was already told more).
   */
  async job(c: Caller, jobId: string, timeoutMs: number, signal: AbortSignal, progress: Progress): Promise<{ job: Job; timed_out: boolean }> {
    let job = await this.ctx.jobService.get(c.memory, c.restriction, jobId)
    let sent = -1
    const report = (p: number, message?: string) => {
      if (p <= sent) return
      sent = p
      progress(p, 100, message)
    }
    if (job.status === 'running') report(job.progress_percent, job.progress_message ?? undefined)
    const keys = [`job:${job.id}`, `memory:${c.memory}`, ...(job.note_id ? [`note:${job.note_id}`] : [])]
    const ended = await waitUntil(this.watchers, keys, timeoutMs, signal, async (e) => {
      const p = e?.envelope.payload as { type?: string; job_id?: string; progress?: number; message?: string } | undefined
      if (p?.type === 'JobProgress' && p.job_id === jobId && typeof p.progress === 'number') report(p.progress, p.message)
      const now = await this.ctx.jobs.get(jobId)
      if (!now) return null
      job = now
      return TERMINAL.has(now.status) ? now : null
    })
    if (ended) {
      if (ended.status === 'completed') report(100, ended.progress_message ?? 'completed')
      return { job: ended, timed_out: false }
    }
    return { job, timed_out: true }
  }

  /**
   * Waits until a note has been through its pipeline: no title_generation, embedding or linking job pending or
   * running, and an embedding stored. Progress: pipeline stages done, of 3.
   */
  async noteReady(c: Caller, noteId: string, timeoutMs: number, signal: AbortSignal, progress: Progress): Promise<Record<string, unknown>> {
    await this.ctx.noteService.get(c, noteId) // 404 for notes the caller cannot see
    let sent = -1
    let state = await this.noteState(c, noteId)
    const answer = await waitUntil(this.watchers, [`note:${noteId}`, `memory:${c.memory}`], timeoutMs, signal, async () => {
      state = await this.noteState(c, noteId)
      if (state.stages > sent) {
        sent = state.stages
        progress(state.stages, 3, state.open.length ? `waiting for ${state.open.join(', ')}` : 'ready')
      }
      return state.done ? state : null
    })
    if (!answer) return { note_id: noteId, ready: false, timed_out: true, pending: state.open }
    if (answer.gone) return { note_id: noteId, ready: false, timed_out: false, reason: 'the note was deleted' }
    if (!answer.ready) return { note_id: noteId, ready: false, timed_out: false, reason: answer.reason, note: answer.note }
    return { note: answer.note, ready: true, timed_out: false }
  }

  private async noteState(c: Caller, noteId: string): Promise<{ done: boolean; ready: boolean; gone?: boolean; open: string[]; stages: number; note?: Note; reason?: string }> {
    const n = await this.ctx.notes.get(noteId)
    if (!n || n.memory !== c.memory) return { done: true, ready: false, gone: true, open: [], stages: 0 }
    const list = async (status: string) => (await this.ctx.jobs.list({ memory: c.memory, restriction: null, noteId, status, limit: 100 })).jobs
    const [pending, running, embedding] = await Promise.all([list('pending'), list('running'), this.ctx.notes.getEmbedding(noteId)])
    const open = [...new Set([...pending, ...running].map((j) => j.job_type).filter((t) => (PIPELINE as readonly string[]).includes(t)))]
    const embedded = embedding !== null
    const stages = (open.includes('title_generation') ? 0 : 1) + (embedded && !open.includes('embedding') ? 1 : 0) + (embedded && !open.length ? 1 : 0)
    if (open.length) return { done: false, ready: false, open, stages }
    const note = await this.ctx.noteService.get(c, noteId)
    if (embedded) return { done: true, ready: true, open, stages: 3, note }
    // Nothing left to run and no embedding: the last embedding job failed (or was cancelled).
    const last = (await this.ctx.jobs.list({ memory: c.memory, restriction: null, noteId, limit: 20 })).jobs.find((j) => j.job_type === 'embedding')
    return { done: true, ready: false, open, stages, note, reason: last ? `the embedding job ${last.id} ${last.status}${last.error ? `: ${last.error}` : ''}` : 'no embedding job exists for this note (create one with create_job)' }
  }
}
