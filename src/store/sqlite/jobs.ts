import type { Database, Statement } from 'bun:sqlite'
import { tagSetKey } from '../../auth/principal.ts'
import type { JobTypeName } from '../../events/catalog.ts'
import type { Job, JobStatus } from '../../modules/jobs/model.ts'
import type { Counts, JobStore, JobTrace, Lease, NewJob } from '../../modules/jobs/store.ts'

/** Restricts job queries to jobs of notes carrying one of these tags (tag-restricted principals). */
const TAG_FILTER = `EXISTS (SELECT 1 FROM notes n, json_each(n.tags) t
  WHERE n.id = j.note_id AND t.value IN (SELECT value FROM json_each(?)))`

/** Jobs of a paused memory (or of every memory, scope '*') are not claimed: see job_pauses and pause.ts. */
const NOT_PAUSED = `NOT EXISTS (SELECT 1 FROM job_pauses p WHERE p.scope = '*' OR p.scope = jobs.memory)`

/** Cached count entries (memory × tag restriction) before the cache starts over. */
const COUNTS_CACHE_MAX = 10_000

/**
 * The job queue on SQLite (port: modules/jobs/store.ts). Every transition is one UPDATE guarded by the expected
 * status and, for a running job, its owner. Counts are cached per (memory, restriction) until the queue changes.
 */
export class SqliteJobStore implements JobStore {
  private insertStmt: Statement
  private byId: Statement
  private claimStmt: Statement
  private progressStmt: Statement
  private completeStmt: Statement
  private retryStmt: Statement
  private failStmt: Statement
  private countsStmt: Statement
  private nextDueStmt: Statement
  private heartbeatStmt: Statement
  private generation = 0
  private countsCache = new Map<string, { generation: number; counts: Counts }>()

  constructor(private db: Database) {
    this.insertStmt = db.query(
      `INSERT INTO jobs (id, memory, note_id, job_type, status, priority, max_retries, created_at, correlation_id, queued_event_id, restriction, instructions)
       VALUES (?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?) RETURNING *`,
    )
    this.byId = db.query('SELECT * FROM jobs WHERE id = ?')
    this.claimStmt = db.query(
      `UPDATE jobs SET status = 'running', started_at = ?, progress_percent = 0, progress_message = NULL, owner = ?, lease_until_ms = ?
       WHERE id = (SELECT id FROM jobs WHERE status = 'pending' AND run_after <= ? AND ${NOT_PAUSED}
                   ORDER BY priority DESC, created_at, id LIMIT 1)
       RETURNING *`,
    )
    this.progressStmt = db.query(`UPDATE jobs SET progress_percent = ?, progress_message = ? WHERE id = ? AND status = 'running' AND owner = ?`)
    this.heartbeatStmt = db.query(`UPDATE jobs SET lease_until_ms = ? WHERE id = ? AND status = 'running' AND owner = ?`)
    this.completeStmt = db.query(
      `UPDATE jobs SET status = 'completed', progress_percent = 100, completed_at = ?, duration_ms = ?, error = NULL, owner = NULL, lease_until_ms = NULL
       WHERE id = ? AND status = 'running' AND owner = ? RETURNING *`,
    )
    this.retryStmt = db.query(
      `UPDATE jobs SET status = 'pending', retry_count = retry_count + 1, error = ?, run_after = ?, started_at = NULL, owner = NULL, lease_until_ms = NULL
       WHERE id = ? AND status = 'running' AND owner = ? RETURNING *`,
    )
    this.failStmt = db.query(
      `UPDATE jobs SET status = ?, error = ?, completed_at = ?, duration_ms = ?, owner = NULL, lease_until_ms = NULL
       WHERE id = ? AND (status = 'pending' OR (status = 'running' AND owner = ?)) RETURNING *`,
    )
    this.countsStmt = db.query(`SELECT status, COUNT(*) AS n FROM jobs j WHERE j.memory = ? GROUP BY status`)
    this.nextDueStmt = db.query(`SELECT MIN(run_after) AS t FROM jobs WHERE status = 'pending' AND ${NOT_PAUSED}`)
  }

  async insert(j: NewJob): Promise<Job> {
    this.generation++
    return this.insertNow(j)
  }

  private insertNow(j: NewJob): Job {
    const restriction = j.restriction ? JSON.stringify(j.restriction) : null
    const row = this.insertStmt.get(j.id, j.memory, j.note_id, j.job_type, j.priority, j.max_retries, j.now, j.correlation_id, j.queued_event_id, restriction, j.instructions)
    return toJob(row as JobRow)!
  }

  async get(id: string): Promise<Job | null> {
    return toJob(this.byId.get(id) as JobRow | null)
  }

  async claim(nowIso: string, nowMs: number, lease: Lease): Promise<{ job: Job; trace: JobTrace } | null> {
    const row = this.claimStmt.get(nowIso, lease.owner, lease.untilMs, nowMs) as JobRow | null
    if (!row) return null
    this.generation++
    return {
      job: toJob(row)!,
      trace: {
        correlationId: row.correlation_id ?? undefined,
        queuedEventId: row.queued_event_id ?? undefined,
        restriction: parseRestriction(row.restriction),
        instructions: row.instructions ?? undefined,
      },
    }
  }

  async heartbeat(ids: readonly string[], lease: Lease): Promise<string[]> {
    return this.db.transaction(() => ids.filter((id) => this.heartbeatStmt.run(lease.untilMs, id, lease.owner).changes === 1))()
  }

  async recoverExpired(nowMs: number): Promise<string[]> {
    const rows = this.db
      .query(`UPDATE jobs SET status = 'pending', started_at = NULL, run_after = 0, owner = NULL, lease_until_ms = NULL
              WHERE status = 'running' AND COALESCE(lease_until_ms, 0) < ? RETURNING memory`)
      .all(nowMs) as { memory: string }[]
    if (rows.length) this.generation++
    return [...new Set(rows.map((r) => r.memory))]
  }

  async nextDue(): Promise<number | null> {
    return (this.nextDueStmt.get() as { t: number | null }).t
  }

  async progress(id: string, owner: string, percent: number, message: string | null): Promise<void> {
    this.progressStmt.run(percent, message, id, owner)
  }

  async complete(id: string, owner: string, nowIso: string, durationMs: number): Promise<Job | null> {
    this.generation++
    return toJob(this.completeStmt.get(nowIso, durationMs, id, owner) as JobRow | null)
  }

  async completeWith(id: string, owner: string, nowIso: string, durationMs: number, next: readonly NewJob[]): Promise<{ job: Job; queued: Job[] } | null> {
    this.generation++
    return this.db.transaction(() => {
      const job = toJob(this.completeStmt.get(nowIso, durationMs, id, owner) as JobRow | null)
      if (!job) return null
      const queued = next.filter((j) => !j.note_id || !this.hasOpenNow(j.note_id, j.job_type)).map((j) => this.insertNow(j))
      return { job, queued }
    })()
  }

  async retry(id: string, owner: string, error: string, runAfterMs: number): Promise<Job | null> {
    this.generation++
    return toJob(this.retryStmt.get(error, runAfterMs, id, owner) as JobRow | null)
  }

  async finish(id: string, owner: string | null, status: 'failed' | 'cancelled', error: string, nowIso: string, durationMs: number | null): Promise<Job | null> {
    this.generation++
    return toJob(this.failStmt.get(status, error, nowIso, durationMs, id, owner) as JobRow | null)
  }

  async cancelPendingForNote(noteId: string, nowIso: string): Promise<number> {
    this.generation++
    return this.db.query(`UPDATE jobs SET status = 'cancelled', error = 'note deleted', completed_at = ? WHERE note_id = ? AND status = 'pending'`).run(nowIso, noteId).changes
  }

  async hasOpen(noteId: string, jobType: JobTypeName): Promise<boolean> {
    return this.hasOpenNow(noteId, jobType)
  }

  private hasOpenNow(noteId: string, jobType: JobTypeName): boolean {
    return !!this.db.query(`SELECT 1 FROM jobs WHERE note_id = ? AND job_type = ? AND status = 'pending' LIMIT 1`).get(noteId, jobType)
  }

  /**
   * Counts of a memory (within a tag restriction), cached until the queue or the notes' tags change: refresh
   * answers, stats, opening SSE frames and QueueStatus corrections then cost one query per change, not per ask
   * (a client repeating `refresh` cannot make the server count again and again).
   */
  async counts(memory: string, restriction: readonly string[] | null = null): Promise<Counts> {
    return this.cachedCounts(memory, restriction)
  }

  private cachedCounts(memory: string, restriction: readonly string[] | null): Counts {
    const key = restriction ? `${memory}\n${tagSetKey(restriction)}` : memory
    const hit = this.countsCache.get(key)
    if (hit && hit.generation === this.generation) return { ...hit.counts }
    const counts = this.countNow(memory, restriction)
    if (this.countsCache.size >= COUNTS_CACHE_MAX) this.countsCache.clear()
    this.countsCache.set(key, { generation: this.generation, counts })
    return { ...counts }
  }

  /** Something counts depend on changed (a job transition here, or a note's tags or deletion). */
  invalidateCounts(): void {
    this.generation++
  }

  /** The counts, from the table (uncached). */
  countNow(memory: string, restriction: readonly string[] | null = null): Counts {
    const rows = (
      restriction
        ? this.db.query(`SELECT status, COUNT(*) AS n FROM jobs j WHERE j.memory = ? AND ${TAG_FILTER} GROUP BY status`).all(memory, JSON.stringify(restriction))
        : this.countsStmt.all(memory)
    ) as { status: JobStatus; n: number }[]
    const c: Counts = { pending: 0, running: 0, completed: 0, failed: 0, cancelled: 0 }
    for (const r of rows) if (r.status in c) c[r.status as keyof Counts] = r.n
    return c
  }

  /** Jobs of a memory (within a tag restriction) that completed or failed since `sinceIso`. */
  async finishedSince(memory: string, restriction: readonly string[] | null, sinceIso: string): Promise<{ completed: number; failed: number }> {
    return this.finishedSinceNow(memory, restriction, sinceIso)
  }

  private finishedSinceNow(memory: string, restriction: readonly string[] | null, sinceIso: string): { completed: number; failed: number } {
    const where = ["j.memory = ? AND j.status IN ('completed', 'failed') AND j.completed_at >= ?"]
    const args: string[] = [memory, sinceIso]
    if (restriction) (where.push(TAG_FILTER), args.push(JSON.stringify(restriction)))
    const rows = this.db.query(`SELECT status, COUNT(*) AS n FROM jobs j WHERE ${where.join(' AND ')} GROUP BY status`).all(...args) as { status: string; n: number }[]
    return { completed: rows.find((r) => r.status === 'completed')?.n ?? 0, failed: rows.find((r) => r.status === 'failed')?.n ?? 0 }
  }

  /** A page of jobs, newest first, and how many match in all. */
  async list(o: { memory: string; restriction: readonly string[] | null; status?: string; noteId?: string; limit: number; offset?: number }): Promise<{ jobs: Job[]; total: number }> {
    return this.listNow(o)
  }

  private listNow(o: { memory: string; restriction: readonly string[] | null; status?: string; noteId?: string; limit: number; offset?: number }): { jobs: Job[]; total: number } {
    const where = ['j.memory = ?']
    const args: (string | number)[] = [o.memory]
    if (o.status) (where.push('j.status = ?'), args.push(o.status))
    if (o.noteId) (where.push('j.note_id = ?'), args.push(o.noteId))
    if (o.restriction) (where.push(TAG_FILTER), args.push(JSON.stringify(o.restriction)))
    const filter = where.join(' AND ')
    const total = (this.db.query(`SELECT COUNT(*) AS n FROM jobs j WHERE ${filter}`).get(...args) as { n: number }).n
    const rows = this.db.query(`SELECT * FROM jobs j WHERE ${filter} ORDER BY j.created_at DESC, j.id DESC LIMIT ? OFFSET ?`).all(...args, o.limit, o.offset ?? 0) as JobRow[]
    return { jobs: rows.map((r) => toJob(r)!), total }
  }
}

type JobRow = Job & { run_after: number; correlation_id: string | null; queued_event_id: string | null; restriction: string | null; instructions: string | null; owner: string | null; lease_until_ms: number | null }

function parseRestriction(json: string | null): string[] | null {
  if (json === null) return null
  const v = JSON.parse(json) as unknown
  // Unreadable = the narrowest view (no tag): the job then sees only what every principal may see.
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []
}

/** Row → API shape (drops the internal columns). */
function toJob(r: JobRow | null): Job | null {
  if (!r) return null
  const { run_after: _runAfter, correlation_id: _c, queued_event_id: _q, restriction: _r, instructions: _i, owner: _o, lease_until_ms: _l, ...job } = r
  return job
}
