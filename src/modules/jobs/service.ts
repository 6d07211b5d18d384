import type { Actor, JobTypeName } from '../../events/catalog.ts'
import { JOB_TYPES } from '../../events/catalog.ts'
import type { EventBus, Trace } from '../../events/bus.ts'
import type { QueueStatusScheduler } from '../../events/queue-status.ts'
import { canSeeTags } from '../../auth/principal.ts'
import { notFound, unprocessable } from '../../http/errors.ts'
import type { NoteStore } from '../notes/store.ts'
import type { Job, JobStats } from './model.ts'
import type { JobStore, NewJob } from './store.ts'

/** Default priority per job type (higher runs first): titles appear quickly, AI revision waits its turn. */
export const DEFAULT_PRIORITY: Record<JobTypeName, number> = {
  title_generation: 3,
  embedding: 2,
  linking: 1,
  ai_revision: 0,
}

export interface JobServiceDeps {
  jobs: JobStore
  notes: NoteStore
  bus: EventBus
  queueStatus: QueueStatusScheduler
  maxRetries: number
  /** Wakes the worker after an enqueue. */
  wake: () => void
}

type JobEventKind = 'JobQueued' | 'JobStarted' | 'JobCompleted' | 'JobFailed'

export interface EnqueueOptions {
  priority?: number
  actor?: Actor
  trace?: Trace
  /** Tag restriction of whoever caused the job (null = unrestricted). */
  restriction?: readonly string[] | null
  /** ai_revision: what the caller asked for. */
  instructions?: string
  /** Its `created_at` (default: now); a follow-up is created at its predecessor's completion. */
  at?: string
}

/** A job not yet queued: its row, and how to announce it once the store has it. */
export interface JobDraft {
  row: NewJob
  announce(job: Job, causationId?: string): Promise<void>
}

/** Queue operations that emit the matching events; the worker and the REST controller share it. */
export class JobService {
  constructor(private d: JobServiceDeps) {}

  /** Validates and enqueues a job for a note of `memory` visible to the caller; emits JobQueued. */
  async create(
    memory: string,
    restriction: readonly string[] | null,
    input: { job_type: JobTypeName; note_id?: string; priority?: number; instructions?: string },
    actor?: Actor,
  ): Promise<Job> {
    if (!input.note_id) throw unprocessable(`job type '${input.job_type}' needs a note_id`)
    if (input.instructions !== undefined && input.job_type !== 'ai_revision') throw unprocessable(`instructions are for ai_revision jobs, not ${input.job_type}`)
    const note = await this.d.notes.get(input.note_id)
    if (!note || note.memory !== memory || !canSeeTags(restriction, note.tags)) throw notFound(`note ${input.note_id} not found`)
    return this.enqueue(memory, input.job_type, note.id, { priority: input.priority, actor, restriction, instructions: input.instructions })
  }

  /**
   * Queues a job; its events carry `trace.correlationId` (a new one when absent), JobQueued is caused by
   * `trace.causationId`. The job runs with `restriction` (that of whoever caused it): it reads only notes visible
   * under it.
   */
  async enqueue(memory: string, jobType: JobTypeName, noteId: string | null, o: EnqueueOptions = {}): Promise<Job> {
    const draft = this.draft(memory, jobType, noteId, o)
    return this.holding(async () => {
      const job = await this.d.jobs.insert(draft.row)
      await draft.announce(job)
      return job
    })
  }

  /** A job transition is under way: counts read at an idle moment wait for its event (EventBus.hold). */
  hold(): () => void {
    return this.d.bus.hold()
  }

  /** Runs a transition (its store write, then its events) under a hold. */
  holding<T>(fn: () => Promise<T>): Promise<T> {
    return this.d.bus.holding(fn)
  }

  /**
   * A job to queue and how to announce it: the row for the store, and `announce`, which publishes its JobQueued
   * (caused by `trace.causationId` unless told otherwise) and wakes the worker. The worker hands the rows of a
   * job's follow-ups to the store with the job's completion (JobStore.completeWith), then announces them.
   */
  draft(memory: string, jobType: JobTypeName, noteId: string | null, o: EnqueueOptions = {}): JobDraft {
    const { priority, actor, trace = {}, restriction = null } = o
    const correlationId = trace.correlationId ?? Bun.randomUUIDv7()
    const queuedEventId = Bun.randomUUIDv7()
    const row: NewJob = {
      id: Bun.randomUUIDv7(), // time-ordered: ties on created_at sort in creation order
      correlation_id: correlationId,
      queued_event_id: queuedEventId,
      restriction,
      instructions: o.instructions ?? null,
      memory,
      note_id: noteId,
      job_type: jobType,
      priority: priority ?? DEFAULT_PRIORITY[jobType],
      max_retries: this.d.maxRetries,
      now: o.at ?? new Date().toISOString(),
    }
    return {
      row,
      announce: async (job, causationId = trace.causationId) => {
        await this.emit('JobQueued', job, undefined, actor, { correlationId, causationId, eventId: queuedEventId })
        this.d.wake()
      },
    }
  }

  /** Enqueues unless the same job is already waiting for that note (repeated edits coalesce). */
  async enqueueOnce(memory: string, jobType: JobTypeName, noteId: string, o: Omit<EnqueueOptions, 'priority'> = {}): Promise<Job | null> {
    if (await this.d.jobs.hasOpen(noteId, jobType)) return null
    return this.enqueue(memory, jobType, noteId, o)
  }

  /**
   * Publishes a job lifecycle event (returns its id); note-scoped jobs carry the note's tags for visibility
   * filtering.
   */
  async emit(kind: JobEventKind, job: Job, extra?: { duration_ms?: number; error?: string }, actor?: Actor, trace: Trace & { eventId?: string } = {}): Promise<string> {
    return this.emitWithTags(kind, job, await this.tagsOf(job), extra, actor, trace)
  }

  /** `emit` with the note's tags already read: publishes in this turn (the worker pairs JobCompleted with NoteUpdated). */
  emitWithTags(kind: JobEventKind, job: Job, tags: string[] | null, extra?: { duration_ms?: number; error?: string }, actor?: Actor, trace: Trace & { eventId?: string } = {}): string {
    const base = { job_id: job.id, job_type: JOB_TYPES[job.job_type], ...(job.note_id ? { note_id: job.note_id } : {}) }
    const payload =
      kind === 'JobCompleted'
        ? { type: kind, ...base, ...(extra?.duration_ms !== undefined ? { duration_ms: extra.duration_ms } : {}) }
        : kind === 'JobFailed'
          ? { type: kind, ...base, error: extra?.error ?? 'failed' }
          : { type: kind, ...base }
    const e = this.d.bus.publish({ memory: job.memory, payload, entityType: 'job', entityId: job.id, tags, actor, ...trace })
    // A trailing QueueStatus follows every burst of job events (at most one per memory per interval), so counters
    // converge to the server's counts at idle even where a client reorders: HotM applies a QueueStatus up to 50 ms
    // late, after job events that arrived meanwhile.
    this.d.queueStatus.markDirty(job.memory)
    return e.envelope.event_id
  }

  async emitProgress(job: Job, percent: number, message?: string, trace: Trace = {}): Promise<void> {
    const payload = {
      type: 'JobProgress' as const,
      job_id: job.id,
      job_type: JOB_TYPES[job.job_type],
      ...(job.note_id ? { note_id: job.note_id } : {}),
      progress: percent,
      progress_percent: percent,
      ...(message ? { message } : {}),
    }
    this.d.bus.publish({ memory: job.memory, payload, entityType: 'job', entityId: job.id, tags: await this.tagsOf(job), ...trace })
  }

  private async tagsOf(job: Job): Promise<string[] | null> {
    return job.note_id ? ((await this.d.notes.get(job.note_id))?.tags ?? null) : null
  }

  async stats(memory: string, restriction: readonly string[] | null): Promise<JobStats> {
    const [c, lastHour] = await Promise.all([
      this.d.jobs.counts(memory, restriction),
      this.d.jobs.finishedSince(memory, restriction, new Date(Date.now() - 3600_000).toISOString()),
    ])
    return {
      total_jobs: c.pending + c.running,
      running: c.running,
      pending: c.pending,
      completed: c.completed,
      failed: c.failed,
      // The same counts under the names Fortemi's own stats use (the HotM jobs panel reads these).
      processing: c.running,
      completed_last_hour: lastHour.completed,
      failed_last_hour: lastHour.failed,
      total: c.pending + c.running + c.completed + c.failed + c.cancelled,
    }
  }

  async get(memory: string, restriction: readonly string[] | null, id: string): Promise<Job> {
    const job = await this.d.jobs.get(id)
    if (!job || job.memory !== memory || !(await this.visible(job, restriction))) throw notFound(`job ${id} not found`)
    return job
  }

  private async visible(job: Job, restriction: readonly string[] | null): Promise<boolean> {
    if (!restriction) return true
    return canSeeTags(restriction, await this.tagsOf(job))
  }

  /** Counts changed without a job event (retry, recovery, cancellation): a QueueStatus follows shortly. */
  countsChanged(memory: string): void {
    this.d.queueStatus.markDirty(memory)
  }
}
