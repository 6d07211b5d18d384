import type { JobTypeName } from '../../events/catalog.ts'
import type { Job } from './model.ts'

export interface Counts {
  pending: number
  running: number
  completed: number
  failed: number
  cancelled: number
}

export interface NewJob {
  id: string
  /** The operation this job belongs to (carried by its events) and the id its JobQueued event will have. */
  correlation_id: string
  queued_event_id: string
  /** Tag restriction of whoever queued it (null = unrestricted). */
  restriction: readonly string[] | null
  /** ai_revision: what the caller asked for (null = none). */
  instructions: string | null
  memory: string
  note_id: string | null
  job_type: JobTypeName
  priority: number
  max_retries: number
  now: string
}

/** How a claimed job's events are traced (absent: jobs queued before tracing existed), and whose view it runs with. */
export interface JobTrace {
  correlationId?: string
  queuedEventId?: string
  /** The tag restriction of whoever queued the job (null = unrestricted). */
  restriction: readonly string[] | null
  /** ai_revision: what the caller asked for. */
  instructions?: string
}

/** Who holds a claim, and until when (ms epoch) unless renewed. */
export interface Lease {
  owner: string
  untilMs: number
}

/**
 * Port: the job queue (docs/architecture.md). Every transition is guarded by the expected status, and the
 * transitions of a running job by its owner: a worker whose lease expired and was taken over cannot complete,
 * retry or fail the job any more (it gets null and drops its result).
 *
 * Contract (tests/contract/job-store.ts):
 * - `claim` hands each pending, due, unpaused job to exactly one caller (priority, then age), however many
 *   workers on however many instances race for it, and records the caller's lease.
 * - `heartbeat` renews the leases of running jobs the owner still holds and returns their ids.
 * - `recoverExpired` returns to pending only running jobs whose lease ended before `nowMs` — never the work of
 *   an owner that is alive and renewing.
 * - `counts` and `list` are exact for the memory and restriction (a restriction sees jobs of notes with one of
 *   its tags).
 */
export interface JobStore {
  insert(j: NewJob): Promise<Job>
  get(id: string): Promise<Job | null>
  /** Atomically moves the best due pending job (priority, then age) to running under `lease`; with its event trace. */
  claim(nowIso: string, nowMs: number, lease: Lease): Promise<{ job: Job; trace: JobTrace } | null>
  /** Renews the leases of `ids` that `lease.owner` still holds; returns those ids. */
  heartbeat(ids: readonly string[], lease: Lease): Promise<string[]>
  /** Running jobs whose lease ended before `nowMs` go back to pending (due at once). Returns the memories affected. */
  recoverExpired(nowMs: number): Promise<string[]>
  /** ms epoch of the earliest claimable pending job (paused scopes excluded), or null when none. */
  nextDue(): Promise<number | null>
  progress(id: string, owner: string, percent: number, message: string | null): Promise<void>
  complete(id: string, owner: string, nowIso: string, durationMs: number): Promise<Job | null>
  /**
   * Completes a running job under `owner` and queues `next` in the same transaction — each unless a pending job of
   * its type already waits for its note — so the queue never reads empty between a job and the next one of its
   * pipeline. Returns the completed job and the jobs queued, or null when the lease was lost (nothing queued).
   */
  completeWith(id: string, owner: string, nowIso: string, durationMs: number, next: readonly NewJob[]): Promise<{ job: Job; queued: Job[] } | null>
  retry(id: string, owner: string, error: string, runAfterMs: number): Promise<Job | null>
  /** Fails or cancels a job that is pending, or running under `owner`. */
  finish(id: string, owner: string | null, status: 'failed' | 'cancelled', error: string, nowIso: string, durationMs: number | null): Promise<Job | null>
  /** Cancels the pending jobs of a note; returns how many. */
  cancelPendingForNote(noteId: string, nowIso: string): Promise<number>
  /**
   * Whether a job of this type is still waiting for the note (avoids duplicate pipeline work). A running
   * one does not count: it works on the content as it was when it started.
   */
  hasOpen(noteId: string, jobType: JobTypeName): Promise<boolean>
  /** Counts of a memory within a tag restriction (an implementation may cache them until `invalidateCounts`). */
  counts(memory: string, restriction?: readonly string[] | null): Promise<Counts>
  /** Something counts depend on changed outside the queue (a note's tags or its deletion). */
  invalidateCounts(): void
  /** Jobs of a memory (within a tag restriction) that completed or failed since `sinceIso`. */
  finishedSince(memory: string, restriction: readonly string[] | null, sinceIso: string): Promise<{ completed: number; failed: number }>
  /** A page of jobs, newest first, and how many match in all. */
  list(o: { memory: string; restriction: readonly string[] | null; status?: string; noteId?: string; limit: number; offset?: number }): Promise<{ jobs: Job[]; total: number }>
}

/**
 * Port: paused job scopes (`*` = every memory). The job store's claim skips the pending jobs of a paused scope.
 */
export interface PauseStore {
  /** Records a pause; false when the scope already was paused. */
  add(scope: string, pausedAt: string, pausedBy: string): Promise<boolean>
  /** Lifts a pause; false when the scope was not paused. */
  remove(scope: string): Promise<boolean>
  /** Paused scopes, sorted. */
  scopes(): Promise<string[]>
  /** Every memory that holds notes, jobs or webhooks (where a global change is announced). */
  memoriesWithData(): Promise<string[]>
}
