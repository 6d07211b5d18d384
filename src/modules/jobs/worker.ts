import type { Config } from '../../config.ts'
import type { JobTypeName } from '../../events/catalog.ts'
import type { Logger } from '../../telemetry/log.ts'
import type { NoteStore } from '../notes/store.ts'
import type { NoteEvents } from '../notes/events.ts'
import { jobBackoffMs } from './backoff.ts'
import { aiRevision } from './handlers/ai-revision.ts'
import { PollLoop, systemClock, type Clock } from '../../util/poll-loop.ts'
import { safeErrorText } from '../../util/safe-error.ts'
import { embedding } from './handlers/embedding.ts'
import { linking } from './handlers/linking.ts'
import { titleGeneration } from './handlers/title.ts'
import { NoteGoneError, TransientError, type JobHandler } from './handlers/types.ts'
import type { Job } from './model.ts'
import type { JobService } from './service.ts'
import type { JobStore, JobTrace } from './store.ts'

export const HANDLERS: Record<JobTypeName, JobHandler> = {
  title_generation: titleGeneration,
  embedding,
  linking,
  ai_revision: aiRevision,
}

export interface WorkerDeps {
  config: Config
  jobs: JobStore
  notes: NoteStore
  service: JobService
  noteEvents: NoteEvents
  logger: Logger
  handlers?: Partial<Record<JobTypeName, JobHandler>>
  /** Time (tests of retries and polling inject one). */
  clock?: Clock
}

/**
 * Runs queued jobs: claims by priority then age, up to `concurrency` at once, reports progress, retries
 * transient failures with backoff, and on start returns jobs a crash left `running` to `pending`.
 */
export class Worker {
  private active = new Map<string, AbortController>()
  private running = new Set<Promise<void>>()
  private handlers: Record<JobTypeName, JobHandler>
  private clock: Clock
  private loop: PollLoop

  constructor(private d: WorkerDeps) {
    this.handlers = { ...HANDLERS, ...d.handlers }
    this.clock = d.clock ?? systemClock
    this.loop = new PollLoop({
      pump: () => this.claimAll(),
      nextDue: () => this.d.jobs.nextDue(),
      pollMs: d.config.worker.pollMs,
      clock: this.clock,
      onError: (err) => this.d.logger.error('worker claim failed', { err }),
    })
  }

  start(): void {
    const memories = this.d.jobs.recoverRunning()
    for (const m of memories) this.d.service.countsChanged(m)
    if (memories.length) this.d.logger.warn('returned jobs left running by a previous process to pending', { memories })
    this.loop.start()
  }

  /** Claims as many due jobs as there are free slots, then sleeps until the next due job or the poll interval. */
  wake = (): void => this.loop.wake()

  private claimAll(): void {
    while (this.active.size < this.d.config.worker.concurrency) {
      const now = this.clock.now()
      const claimed = this.d.jobs.claim(new Date(now).toISOString(), now)
      if (!claimed) break
      const p = this.run(claimed.job, claimed.trace).finally(() => {
        this.running.delete(p)
        this.wake()
      })
      this.running.add(p)
    }
  }

  /**
   * Runs one claimed job. Its events carry the job's correlation id; JobStarted is caused by its JobQueued, the
   * rest by JobStarted, and what follows a completion (NoteUpdated, follow-up jobs) by JobCompleted.
   */
  private async run(job: Job, trace: JobTrace): Promise<void> {
    const ac = new AbortController()
    this.active.set(job.id, ac)
    const correlationId = trace.correlationId
    const startedId = this.d.service.emit('JobStarted', job, undefined, undefined, { correlationId, causationId: trace.queuedEventId })
    const byStart = { correlationId, causationId: startedId }
    const started = performance.now()
    let lastPercent = -1
    try {
      const note = job.note_id ? this.d.notes.get(job.note_id) : null
      if (!note) throw new NoteGoneError('note no longer exists')
      const result = await this.handlers[job.job_type]({
        job,
        note,
        notes: this.d.notes,
        restriction: trace.restriction,
        instructions: trace.instructions,
        config: this.d.config,
        signal: ac.signal,
        progress: (percent, message) => {
          const p = Math.max(0, Math.min(100, Math.round(percent)))
          if (p === lastPercent || ac.signal.aborted) return
          lastPercent = p
          this.d.jobs.progress(job.id, p, message ?? null)
          this.d.service.emitProgress(job, p, message, byStart)
        },
      })
      if (ac.signal.aborted) return
      const duration = Math.round(performance.now() - started)
      const done = this.d.jobs.complete(job.id, new Date().toISOString(), duration)
      if (!done) return
      const completedId = this.d.service.emit('JobCompleted', done, { duration_ms: duration }, undefined, byStart)
      const byCompletion = { correlationId, causationId: completedId }
      // A job that completes with a note changes the note's state, so a NoteUpdated follows (docs/websocket.md).
      this.d.noteEvents.updated(note.id, undefined, byCompletion)
      for (const other of result.otherNotesChanged ?? []) this.d.noteEvents.updated(other, undefined, byCompletion)
      for (const next of result.followUps ?? []) this.d.service.enqueueOnce(job.memory, next, note.id, { trace: byCompletion, restriction: trace.restriction })
    } catch (err) {
      if (ac.signal.aborted) return
      try {
        this.fail(job, err, Math.round(performance.now() - started), byStart)
      } catch (storeErr) {
        // Recording the failure failed too (store closed or broken): never reject into the pump.
        this.d.logger.error('could not record a job failure', { job_id: job.id, job_type: job.job_type, err: storeErr })
      }
    } finally {
      this.active.delete(job.id)
    }
  }

  private fail(job: Job, err: unknown, duration: number, trace: { correlationId?: string; causationId?: string }): void {
    let message = safeErrorText(err, { max: 500, secrets: [this.d.config.inference.apiKey] })
    const now = new Date(this.clock.now()).toISOString()
    if (err instanceof NoteGoneError) {
      if (this.d.jobs.finish(job.id, 'cancelled', message, now, duration)) this.d.service.countsChanged(job.memory)
      return
    }
    if (err instanceof TransientError && job.retry_count < job.max_retries) {
      const delay = jobBackoffMs(job.retry_count + 1, this.d.config.worker.retryBaseMs)
      if (this.d.jobs.retry(job.id, message, this.clock.now() + delay)) {
        this.d.logger.info('job will be retried', { job_id: job.id, job_type: job.job_type, retry: job.retry_count + 1, delay_ms: delay, error: message })
        this.d.service.countsChanged(job.memory)
      }
      return
    }
    if (err instanceof TransientError && job.retry_count > 0)
      message += ` (gave up after ${job.retry_count} ${job.retry_count === 1 ? 'retry' : 'retries'})`
    const failed = this.d.jobs.finish(job.id, 'failed', message, now, duration)
    if (failed) {
      this.d.logger.warn('job failed', { job_id: job.id, job_type: job.job_type, error: message })
      this.d.service.emit('JobFailed', failed, { error: message }, undefined, trace)
    }
  }

  /**
   * Stops claiming and waits up to `graceMs` for running jobs; jobs still running after that are left
   * `running` in the store and return to `pending` on the next start.
   */
  async stop(graceMs = 5000): Promise<void> {
    this.loop.stop()
    const all = Promise.allSettled([...this.running])
    const timeout = new Promise((r) => setTimeout(r, graceMs))
    await Promise.race([all, timeout])
    for (const ac of this.active.values()) ac.abort()
  }

}

