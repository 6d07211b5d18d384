import type { Config } from '../../config.ts'
import type { JobTypeName } from '../../events/catalog.ts'
import type { Logger } from '../../telemetry/log.ts'
import type { Trace } from '../../events/bus.ts'
import type { NoteState, NoteStore } from '../notes/store.ts'
import type { NoteEvents } from '../notes/events.ts'
import { jobBackoffMs } from './backoff.ts'
import { aiRevision } from './handlers/ai-revision.ts'
import { PollLoop, systemClock, type Clock } from '../../util/poll-loop.ts'
import { safeErrorText } from '../../util/safe-error.ts'
import { embedding } from './handlers/embedding.ts'
import { linking } from './handlers/linking.ts'
import { titleGeneration } from './handlers/title.ts'
import { NoteGoneError, TransientError, type HandlerResult, type JobHandler } from './handlers/types.ts'
import type { Job } from './model.ts'
import type { JobService } from './service.ts'
import type { JobStore, JobTrace, Lease } from './store.ts'

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
 * transient failures with backoff, renews its leases while jobs run, and takes over jobs whose lease expired.
 */
export class Worker {
  private active = new Map<string, AbortController>()
  private heartbeatTimer: unknown
  private stopped = true
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

  private get lease(): Lease {
    return { owner: this.d.config.nodeId, untilMs: this.clock.now() + this.d.config.worker.leaseMs }
  }

  async start(): Promise<void> {
    this.stopped = false
    await this.recover()
    this.loop.start()
    this.armHeartbeat()
  }

  /** Jobs whose owner stopped renewing its lease (a crashed process or instance) go back to pending. */
  private async recover(): Promise<void> {
    const memories = await this.d.jobs.recoverExpired(this.clock.now())
    for (const m of memories) this.d.service.countsChanged(m)
    if (memories.length) {
      this.d.logger.warn('returned jobs whose lease expired to pending', { memories })
      this.wake()
    }
  }

  /**
   * Every third of the lease: renew the leases of the jobs running here (a job whose lease was lost — this
   * instance was paused past it and another took the job over — is aborted here), then take over expired ones.
   */
  private armHeartbeat(): void {
    if (this.stopped) return
    this.heartbeatTimer = this.clock.setTimeout(() => {
      this.beat()
        .catch((err) => this.d.logger.error('job lease heartbeat failed', { err }))
        .finally(() => this.armHeartbeat())
    }, Math.max(1, Math.floor(this.d.config.worker.leaseMs / 3)))
  }

  private async beat(): Promise<void> {
    const ids = [...this.active.keys()]
    if (ids.length) {
      const held = new Set(await this.d.jobs.heartbeat(ids, this.lease))
      for (const id of ids)
        if (!held.has(id)) {
          this.d.logger.warn('job lease lost: another instance took the job over; abandoning it here', { job_id: id })
          this.active.get(id)?.abort()
        }
    }
    await this.recover()
  }

  /** Claims as many due jobs as there are free slots, then sleeps until the next due job or the poll interval. */
  wake = (): void => this.loop.wake()

  /** Resolves once no job runs here and the loop is asleep (tests that move a fake clock wait for it). */
  async settled(): Promise<void> {
    while (this.running.size) await Promise.allSettled([...this.running])
    await this.loop.idle()
  }

  private async claimAll(): Promise<void> {
    while (!this.stopped && this.active.size < this.d.config.worker.concurrency) {
      const now = this.clock.now()
      // From the claim until its JobStarted is published (run), counts taken at an idle moment wait.
      const release = this.d.service.hold()
      let claimed
      try {
        claimed = await this.d.jobs.claim(new Date(now).toISOString(), now, this.lease)
      } finally {
        if (!claimed) release()
      }
      if (!claimed) break
      const p = this.run(claimed.job, claimed.trace, release).finally(() => {
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
  private async run(job: Job, trace: JobTrace, claimed: () => void): Promise<void> {
    const ac = new AbortController()
    this.active.set(job.id, ac)
    const correlationId = trace.correlationId
    const owner = this.d.config.nodeId
    const started = performance.now()
    let lastPercent = -1
    let byStart: Trace = { correlationId }
    // Progress reports run one after another, and before the job's outcome is recorded (events stay in order).
    let reported: Promise<void> = Promise.resolve()
    try {
      try {
        byStart = { correlationId, causationId: await this.d.service.emit('JobStarted', job, undefined, undefined, { correlationId, causationId: trace.queuedEventId }) }
      } finally {
        claimed()
      }
      const note = job.note_id ? await this.d.notes.get(job.note_id) : null
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
          reported = reported
            .then(async () => {
              await this.d.jobs.progress(job.id, owner, p, message ?? null)
              await this.d.service.emitProgress(job, p, message, byStart)
            })
            .catch((err) => this.d.logger.error('job progress report failed', { job_id: job.id, err }))
        },
      })
      await reported
      if (ac.signal.aborted) return
      await this.complete(job, trace, note, result, Math.round(performance.now() - started), byStart)
    } catch (err) {
      await reported
      if (ac.signal.aborted) return
      try {
        await this.fail(job, err, Math.round(performance.now() - started), byStart)
      } catch (storeErr) {
        // Recording the failure failed too (store closed or broken): never reject into the pump.
        this.d.logger.error('could not record a job failure', { job_id: job.id, job_type: job.job_type, err: storeErr })
      }
    } finally {
      this.active.delete(job.id)
    }
  }

  /**
   * Records a completion and publishes what follows it, under one hold (counts taken at an idle moment wait). The
   * next jobs of the pipeline are queued with the completion, in one transaction: the queue never reads empty in
   * between; their JobQueued follow the JobCompleted.
   */
  private complete(job: Job, trace: JobTrace, note: NoteState, result: HandlerResult, duration: number, byStart: Trace): Promise<void> {
    const owner = this.d.config.nodeId
    const correlationId = trace.correlationId
    return this.d.service.holding(async () => {
      const at = new Date().toISOString()
      const drafts = (result.followUps ?? []).map((type) => this.d.service.draft(job.memory, type, note.id, { trace: { correlationId }, restriction: trace.restriction, at }))
      const completion = await this.d.jobs.completeWith(job.id, owner, at, duration, drafts.map((d) => d.row))
      if (!completion) return // the lease was lost: the instance that took the job over records its outcome
      // A job that completes with a note changes the note's state, so its NoteUpdated follows JobCompleted at once
      // (docs/events.md): the note is read first and both are published in one turn, so they share a commit and
      // nothing (a QueueStatus, another job's events) comes between them, however long the store takes to answer.
      const after = await this.d.notes.get(note.id)
      const completedId = this.d.service.emitWithTags('JobCompleted', completion.job, after?.tags ?? null, { duration_ms: duration }, undefined, byStart)
      const byCompletion = { correlationId, causationId: completedId }
      if (after) this.d.noteEvents.updatedFrom(after, undefined, byCompletion)
      for (const other of result.otherNotesChanged ?? []) await this.d.noteEvents.updated(other, undefined, byCompletion)
      for (const queued of completion.queued) await drafts.find((d) => d.row.id === queued.id)!.announce(queued, completedId)
    })
  }

  private async fail(job: Job, err: unknown, duration: number, trace: { correlationId?: string; causationId?: string }): Promise<void> {
    const owner = this.d.config.nodeId
    let message = safeErrorText(err, { max: 500, secrets: [this.d.config.inference.apiKey] })
    const now = new Date(this.clock.now()).toISOString()
    if (err instanceof NoteGoneError) {
      if (await this.d.jobs.finish(job.id, owner, 'cancelled', message, now, duration)) this.d.service.countsChanged(job.memory)
      return
    }
    if (err instanceof TransientError && job.retry_count < job.max_retries) {
      const delay = jobBackoffMs(job.retry_count + 1, this.d.config.worker.retryBaseMs)
      if (await this.d.jobs.retry(job.id, owner, message, this.clock.now() + delay)) {
        this.d.logger.info('job will be retried', { job_id: job.id, job_type: job.job_type, retry: job.retry_count + 1, delay_ms: delay, error: message })
        this.d.service.countsChanged(job.memory)
      }
      return
    }
    if (err instanceof TransientError && job.retry_count > 0)
      message += ` (gave up after ${job.retry_count} ${job.retry_count === 1 ? 'retry' : 'retries'})`
    // Until JobFailed is published (see EventBus.hold).
    await this.d.service.holding(async () => {
      const failed = await this.d.jobs.finish(job.id, owner, 'failed', message, now, duration)
      if (!failed) return
      this.d.logger.warn('job failed', { job_id: job.id, job_type: job.job_type, error: message })
      await this.d.service.emit('JobFailed', failed, { error: message }, undefined, trace)
    })
  }

  /**
   * Stops claiming and waits up to `graceMs` for running jobs; jobs still running after that are aborted and left
   * `running` under this instance's lease: they return to `pending` when it expires (at once on the next start
   * of the embedded store).
   */
  async stop(graceMs = 5000): Promise<void> {
    this.stopped = true
    this.clock.clearTimeout(this.heartbeatTimer)
    this.loop.stop()
    await this.loop.idle()
    const all = Promise.allSettled([...this.running])
    const timeout = new Promise((r) => setTimeout(r, graceMs))
    await Promise.race([all, timeout])
    for (const ac of this.active.values()) ac.abort()
  }

}

