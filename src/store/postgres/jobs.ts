import type { SQL } from 'bun'
import type { JobTypeName } from '../../events/catalog.ts'
import type { Counts, JobStore, JobTrace, Lease, NewJob, PauseStore } from '../../modules/jobs/store.ts'
import type { Job, JobStatus } from '../../modules/jobs/model.ts'
import { num, numOrNull } from './util.ts'

/** The columns of the API shape, in its order (the internal ones — run_after, owner, lease… — stay inside). */
const JOB_COLUMNS = `id, memory, note_id, job_type, status, priority, progress_percent, progress_message, retry_count, max_retries,
  error, created_at, started_at, completed_at, duration_ms`

type JobRow = Omit<Job, 'duration_ms'> & { duration_ms: string | number | null }
type ClaimedRow = JobRow & { correlation_id: string | null; queued_event_id: string | null; restriction: string | null; instructions: string | null }

const toJob = (r: JobRow): Job => ({ ...r, duration_ms: numOrNull(r.duration_ms) })
const toJobOrNull = (r: JobRow | undefined): Job | null => (r ? toJob(r) : null)

/** Jobs of a paused memory (or of every memory, scope '*') are not claimed. */
const NOT_PAUSED = `NOT EXISTS (SELECT 1 FROM job_pauses p WHERE p.scope = '*' OR p.scope = j.memory)`

/** Restricts to jobs of notes carrying one of the tags in parameter `$n` (a text[]). */
const tagFilter = (param: string) => `EXISTS (SELECT 1 FROM notes n WHERE n.id = j.note_id AND n.tags ?| ${param}::text[])`

function parseRestriction(json: string | null): string[] | null {
  if (json === null) return null
  let v: unknown
  try {
    v = JSON.parse(json)
  } catch {
    v = []
  }
  // Unreadable = the narrowest view (no tag): the job then sees only what every principal may see.
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []
}

/**
 * The job queue on PostgreSQL. Claims lock the chosen row with `FOR UPDATE SKIP LOCKED`, so workers of every
 * instance take distinct jobs without waiting for each other; every later transition is one UPDATE guarded by the
 * expected status and, for a running job, by its owner (a worker whose lease was taken over gets null).
 */
export class PgJobStore implements JobStore {
  constructor(private sql: SQL) {}

  async insert(j: NewJob): Promise<Job> {
    const [r] = await this.sql.unsafe<JobRow[]>(
      `INSERT INTO jobs (id, memory, note_id, job_type, status, priority, max_retries, created_at, correlation_id, queued_event_id, restriction, instructions)
       VALUES ($1, $2, $3, $4, 'pending', $5, $6, $7, $8, $9, $10, $11) RETURNING ${JOB_COLUMNS}`,
      [j.id, j.memory, j.note_id, j.job_type, j.priority, j.max_retries, j.now, j.correlation_id, j.queued_event_id,
       j.restriction ? JSON.stringify(j.restriction) : null, j.instructions],
    )
    return toJob(r!)
  }

  async get(id: string): Promise<Job | null> {
    const [r] = await this.sql.unsafe<JobRow[]>(`SELECT ${JOB_COLUMNS} FROM jobs WHERE id = $1`, [id])
    return toJobOrNull(r)
  }

  async claim(nowIso: string, nowMs: number, lease: Lease): Promise<{ job: Job; trace: JobTrace } | null> {
    // The subquery locks the best candidate and skips rows another claim holds; a row that changed since the
    // snapshot is re-checked (it is no longer pending) and the next one is taken.
    const [r] = await this.sql.unsafe<ClaimedRow[]>(
      `UPDATE jobs SET status = 'running', started_at = $1, progress_percent = 0, progress_message = NULL, owner = $3, lease_until_ms = $4
       WHERE status = 'pending' AND id = (
         SELECT j.id FROM jobs j WHERE j.status = 'pending' AND j.run_after <= $2 AND ${NOT_PAUSED}
         ORDER BY j.priority DESC, j.created_at, j.id LIMIT 1 FOR UPDATE SKIP LOCKED)
       RETURNING ${JOB_COLUMNS}, correlation_id, queued_event_id, restriction, instructions`,
      [nowIso, nowMs, lease.owner, lease.untilMs],
    )
    if (!r) return null
    const { correlation_id, queued_event_id, restriction, instructions, ...job } = r
    return {
      job: toJob(job),
      trace: {
        correlationId: correlation_id ?? undefined,
        queuedEventId: queued_event_id ?? undefined,
        restriction: parseRestriction(restriction),
        instructions: instructions ?? undefined,
      },
    }
  }

  async heartbeat(ids: readonly string[], lease: Lease): Promise<string[]> {
    if (ids.length === 0) return []
    const rows = await this.sql<{ id: string }[]>`
      UPDATE jobs SET lease_until_ms = ${lease.untilMs}
      WHERE id = ANY(${this.sql.array([...ids], 'TEXT')}) AND status = 'running' AND owner = ${lease.owner} RETURNING id`
    return rows.map((r) => r.id)
  }

  async recoverExpired(nowMs: number): Promise<string[]> {
    // A running row without a lease can only predate leases (nobody renews it): it counts as expired.
    const rows = await this.sql<{ memory: string }[]>`
      UPDATE jobs SET status = 'pending', started_at = NULL, run_after = 0, owner = NULL, lease_until_ms = NULL
      WHERE status = 'running' AND COALESCE(lease_until_ms, 0) < ${nowMs} RETURNING memory`
    return [...new Set(rows.map((r) => r.memory))].sort()
  }

  async nextDue(): Promise<number | null> {
    const [r] = await this.sql.unsafe<{ t: string | null }[]>(`SELECT MIN(j.run_after) AS t FROM jobs j WHERE j.status = 'pending' AND ${NOT_PAUSED}`)
    return numOrNull(r?.t ?? null)
  }

  async progress(id: string, owner: string, percent: number, message: string | null): Promise<void> {
    await this.sql`UPDATE jobs SET progress_percent = ${percent}, progress_message = ${message} WHERE id = ${id} AND status = 'running' AND owner = ${owner}`
  }

  async complete(id: string, owner: string, nowIso: string, durationMs: number): Promise<Job | null> {
    const [r] = await this.sql.unsafe<JobRow[]>(
      `UPDATE jobs SET status = 'completed', progress_percent = 100, completed_at = $1, duration_ms = $2, error = NULL, lease_until_ms = NULL
       WHERE id = $3 AND status = 'running' AND owner = $4 RETURNING ${JOB_COLUMNS}`,
      [nowIso, durationMs, id, owner],
    )
    return toJobOrNull(r)
  }

  async completeWith(id: string, owner: string, nowIso: string, durationMs: number, next: readonly NewJob[]): Promise<{ job: Job; queued: Job[] } | null> {
    return this.sql.begin(async (tx) => {
      const [r] = await tx.unsafe<JobRow[]>(
        `UPDATE jobs SET status = 'completed', progress_percent = 100, completed_at = $1, duration_ms = $2, error = NULL, lease_until_ms = NULL
         WHERE id = $3 AND status = 'running' AND owner = $4 RETURNING ${JOB_COLUMNS}`,
        [nowIso, durationMs, id, owner],
      )
      if (!r) return null
      const queued: Job[] = []
      for (const j of next) {
        // Unless the same job already waits for the note (repeated edits coalesce).
        const [q] = await tx.unsafe<JobRow[]>(
          `INSERT INTO jobs (id, memory, note_id, job_type, status, priority, max_retries, created_at, correlation_id, queued_event_id, restriction, instructions)
           SELECT $1, $2, $3, $4, 'pending', $5, $6, $7, $8, $9, $10, $11
           WHERE $3::text IS NULL OR NOT EXISTS (SELECT 1 FROM jobs WHERE note_id = $3 AND job_type = $4 AND status = 'pending')
           RETURNING ${JOB_COLUMNS}`,
          [j.id, j.memory, j.note_id, j.job_type, j.priority, j.max_retries, j.now, j.correlation_id, j.queued_event_id,
           j.restriction ? JSON.stringify(j.restriction) : null, j.instructions],
        )
        if (q) queued.push(toJob(q))
      }
      return { job: toJob(r), queued }
    })
  }

  async retry(id: string, owner: string, error: string, runAfterMs: number): Promise<Job | null> {
    const [r] = await this.sql.unsafe<JobRow[]>(
      `UPDATE jobs SET status = 'pending', retry_count = retry_count + 1, error = $1, run_after = $2, started_at = NULL, owner = NULL, lease_until_ms = NULL
       WHERE id = $3 AND status = 'running' AND owner = $4 RETURNING ${JOB_COLUMNS}`,
      [error, runAfterMs, id, owner],
    )
    return toJobOrNull(r)
  }

  async finish(id: string, owner: string | null, status: 'failed' | 'cancelled', error: string, nowIso: string, durationMs: number | null): Promise<Job | null> {
    // owner null: only a pending job (`owner = NULL` is never true).
    const [r] = await this.sql.unsafe<JobRow[]>(
      `UPDATE jobs SET status = $1, error = $2, completed_at = $3, duration_ms = $4, lease_until_ms = NULL
       WHERE id = $5 AND (status = 'pending' OR (status = 'running' AND owner = $6::text)) RETURNING ${JOB_COLUMNS}`,
      [status, error, nowIso, durationMs, id, owner],
    )
    return toJobOrNull(r)
  }

  async cancelPendingForNote(noteId: string, nowIso: string): Promise<number> {
    return (await this.sql`UPDATE jobs SET status = 'cancelled', error = 'note deleted', completed_at = ${nowIso} WHERE note_id = ${noteId} AND status = 'pending'`)
      .count
  }

  async hasOpen(noteId: string, jobType: JobTypeName): Promise<boolean> {
    const rows = await this.sql`SELECT 1 FROM jobs WHERE note_id = ${noteId} AND job_type = ${jobType} AND status = 'pending' LIMIT 1`
    return rows.length > 0
  }

  /** Exact on every call: instances share the table, so a cache here could not see the others' transitions. */
  async counts(memory: string, restriction: readonly string[] | null = null): Promise<Counts> {
    const rows = restriction
      ? await this.sql.unsafe<{ status: JobStatus; n: number }[]>(
          `SELECT status, COUNT(*)::int AS n FROM jobs j WHERE j.memory = $1 AND ${tagFilter('$2')} GROUP BY status`,
          [memory, [...restriction]],
        )
      : await this.sql<{ status: JobStatus; n: number }[]>`SELECT status, COUNT(*)::int AS n FROM jobs j WHERE j.memory = ${memory} GROUP BY status`
    const c: Counts = { pending: 0, running: 0, completed: 0, failed: 0, cancelled: 0 }
    for (const r of rows) if (r.status in c) c[r.status as keyof Counts] = r.n
    return c
  }

  invalidateCounts(): void {
    // Nothing cached (see counts).
  }

  async finishedSince(memory: string, restriction: readonly string[] | null, sinceIso: string): Promise<{ completed: number; failed: number }> {
    const args: unknown[] = [memory, sinceIso]
    let filter = `j.memory = $1 AND j.status IN ('completed', 'failed') AND j.completed_at >= $2`
    if (restriction) (args.push([...restriction]), (filter += ` AND ${tagFilter('$3')}`))
    const rows = await this.sql.unsafe<{ status: string; n: number }[]>(`SELECT status, COUNT(*)::int AS n FROM jobs j WHERE ${filter} GROUP BY status`, args)
    return { completed: rows.find((r) => r.status === 'completed')?.n ?? 0, failed: rows.find((r) => r.status === 'failed')?.n ?? 0 }
  }

  async list(o: { memory: string; restriction: readonly string[] | null; status?: string; noteId?: string; limit: number; offset?: number }): Promise<{ jobs: Job[]; total: number }> {
    const args: unknown[] = [o.memory]
    const where = ['j.memory = $1']
    if (o.status) (args.push(o.status), where.push(`j.status = $${args.length}`))
    if (o.noteId) (args.push(o.noteId), where.push(`j.note_id = $${args.length}`))
    if (o.restriction) (args.push([...o.restriction]), where.push(tagFilter(`$${args.length}`)))
    const filter = where.join(' AND ')
    const [t] = await this.sql.unsafe<{ n: number }[]>(`SELECT COUNT(*)::int AS n FROM jobs j WHERE ${filter}`, args)
    const rows = await this.sql.unsafe<JobRow[]>(
      `SELECT ${JOB_COLUMNS} FROM jobs j WHERE ${filter} ORDER BY j.created_at DESC, j.id DESC LIMIT $${args.length + 1} OFFSET $${args.length + 2}`,
      [...args, o.limit, o.offset ?? 0],
    )
    return { jobs: rows.map(toJob), total: t?.n ?? 0 }
  }
}

/** Paused job scopes (`*` = every memory). */
export class PgPauseStore implements PauseStore {
  constructor(private sql: SQL) {}

  async add(scope: string, pausedAt: string, pausedBy: string): Promise<boolean> {
    return (await this.sql`INSERT INTO job_pauses (scope, paused_at, paused_by) VALUES (${scope}, ${pausedAt}, ${pausedBy}) ON CONFLICT (scope) DO NOTHING`).count > 0
  }

  async remove(scope: string): Promise<boolean> {
    return (await this.sql`DELETE FROM job_pauses WHERE scope = ${scope}`).count > 0
  }

  async scopes(): Promise<string[]> {
    return (await this.sql<{ scope: string }[]>`SELECT scope FROM job_pauses ORDER BY scope`).map((r) => r.scope)
  }

  async memoriesWithData(): Promise<string[]> {
    const rows = await this.sql<{ memory: string }[]>`
      SELECT memory FROM notes UNION SELECT memory FROM jobs UNION SELECT memory FROM webhooks ORDER BY memory`
    return rows.map((r) => r.memory)
  }
}
