import type { SQL } from 'bun'
import type { EventPosition, EventRow, EventStore, NewEventRow, Retention } from '../../events/store.ts'
import type { Logger } from '../../telemetry/log.ts'
import { num, numOrNull } from './util.ts'

/** Appended events (this instance) between two retention passes, as in the SQLite log. */
const PRUNE_EVERY = 500

/** A row as the client returns it: int8 columns come back as strings. */
type Row = Omit<EventRow, 'seq' | 'created_ms'> & { seq: string; created_ms: string }

const toRow = (r: Row): EventRow => ({ ...r, seq: num(r.seq), created_ms: num(r.created_ms) })

/**
 * The event log on PostgreSQL.
 *
 * Positions: a BIGSERIAL would hand out numbers at INSERT time, so a transaction holding 1 could commit after one
 * holding 2, and a reader that already read 2 would never see 1. Instead every append takes its positions from
 * the single `event_positions` row, inside its own transaction: the row lock serialises appenders until commit,
 * so positions are dense and commit order is position order (docs/architecture.md). The cost is one row update
 * per batch, and appenders queue behind each other's commit — which is why the bus appends in batches
 * (bench/pg-append.ts, 2 cores, fsync on: one appender ~2.9k batches/s of 1 event and ~25k events/s in batches of 50;
 * eight appenders ~3.0k and ~32k — the row lock serialises them, so batching is what scales).
 */
export class PgEventStore implements EventStore {
  /** Memories appended to since the last prune (their count limit is checked then). */
  private touched = new Set<string>()
  private appendsSincePrune = 0

  constructor(
    private sql: SQL,
    private retention: Retention,
    private logger?: Logger,
  ) {}

  async appendBatch(rows: readonly NewEventRow[]): Promise<number[]> {
    if (rows.length === 0) return []
    const n = rows.length
    const col = <K extends keyof NewEventRow>(k: K) => rows.map((e) => e[k])
    // One statement, so one transaction and one round trip: the counter row's update (and its lock, held until
    // this statement commits) and the rows' insert succeed or fail together.
    const inserted = await this.sql<{ seq: string }[]>`
      WITH pos AS (UPDATE event_positions SET last_seq = last_seq + ${n} WHERE id = 1 RETURNING last_seq)
      INSERT INTO events (seq, event_id, memory, event_type, entity_id, tags, envelope, created_ms)
      SELECT pos.last_seq - ${n} + r.ord, r.event_id, r.memory, r.event_type, r.entity_id, r.tags, r.envelope, r.created_ms
      FROM pos, unnest(${this.sql.array(col('event_id'), 'TEXT')}::text[], ${this.sql.array(col('memory'), 'TEXT')}::text[],
                       ${this.sql.array(col('event_type'), 'TEXT')}::text[], ${this.sql.array(col('entity_id'), 'TEXT')}::text[],
                       ${this.sql.array(col('tags'), 'TEXT')}::text[], ${this.sql.array(col('envelope'), 'TEXT')}::text[],
                       ${this.sql.array(col('created_ms'), 'BIGINT')}::bigint[])
        WITH ORDINALITY AS r(event_id, memory, event_type, entity_id, tags, envelope, created_ms, ord)
      RETURNING seq`
    if (inserted.length !== n) throw new Error(`event log: ${inserted.length} of ${n} rows inserted`)
    const last = inserted.reduce((m, r) => Math.max(m, num(r.seq)), 0)
    for (const e of rows) this.touched.add(e.memory)
    this.appendsSincePrune += rows.length
    // After the commit, not inside it: pruning while holding the positions row would stall every other
    // appender of the cluster. A failed prune must not fail an append that is already durable.
    if (this.appendsSincePrune >= PRUNE_EVERY) {
      await this.prune().catch((err: unknown) => this.logger?.error('event log retention failed', { err }))
    }
    const first = last - rows.length + 1
    return rows.map((_, i) => first + i)
  }

  async positionOf(eventId: string): Promise<EventPosition | null> {
    const [r] = await this.sql<{ seq: string; memory: string; tags: string | null }[]>`SELECT seq, memory, tags FROM events WHERE event_id = ${eventId}`
    return r ? { seq: num(r.seq), memory: r.memory, tags: r.tags } : null
  }

  /** The counter, not MAX(seq): positions are never reused, so the newest one stays the newest after a prune. */
  async lastSeq(): Promise<number> {
    const [r] = await this.sql<{ last_seq: string }[]>`SELECT last_seq FROM event_positions WHERE id = 1`
    return num(r!.last_seq)
  }

  async readAfter(afterSeq: number, limit: number): Promise<EventRow[]> {
    const rows = await this.sql<Row[]>`SELECT * FROM events WHERE seq > ${afterSeq} ORDER BY seq LIMIT ${limit}`
    return rows.map(toRow)
  }

  async afterInMemory(memory: string, afterSeq: number, limit = 500): Promise<EventRow[]> {
    const rows = await this.sql<Row[]>`SELECT * FROM events WHERE memory = ${memory} AND seq > ${afterSeq} ORDER BY seq LIMIT ${limit}`
    return rows.map(toRow)
  }

  async oldestInMemory(memory: string): Promise<{ seq: number; created_ms: number } | null> {
    const [r] = await this.sql<{ seq: string; created_ms: string }[]>`SELECT seq, created_ms FROM events WHERE memory = ${memory} ORDER BY seq LIMIT 1`
    return r ? { seq: num(r.seq), created_ms: num(r.created_ms) } : null
  }

  async prunedThrough(memory: string): Promise<number> {
    const [r] = await this.sql<{ seq: string | null }[]>`SELECT MAX(pruned_through) AS seq FROM event_watermarks WHERE memory IN (${memory}, '*')`
    return numOrNull(r?.seq ?? null) ?? 0
  }

  async perSecond(memory: string, fromMs: number): Promise<{ s: number; n: number }[]> {
    const rows = await this.sql<{ s: string; n: number }[]>`
      SELECT created_ms / 1000 AS s, COUNT(*)::int AS n FROM events WHERE memory = ${memory} AND created_ms >= ${fromMs} GROUP BY 1 ORDER BY 1`
    return rows.map((r) => ({ s: num(r.s), n: r.n }))
  }

  /**
   * Retention, as in the SQLite log: nothing older than the age limit (every memory), at most `maxTotal` in all,
   * and at most `count` per memory appended to (by this instance) since the last prune. Each cut removes a prefix
   * of positions and raises the watermark, so a replay knows what it missed. Several instances may prune at once:
   * the deletes are idempotent and the watermark only grows (GREATEST).
   */
  async prune(nowMs = Date.now()): Promise<number> {
    this.appendsSincePrune = 0
    const touched = this.touched
    this.touched = new Set()
    const cutoff = nowMs - this.retention.hours * 3600_000
    let removed = 0
    // Position order is creation order: the first young row bounds the old ones (no created_ms index to maintain).
    const [young] = await this.sql<{ seq: string }[]>`SELECT seq FROM events WHERE created_ms >= ${cutoff} ORDER BY seq LIMIT 1`
    const ageCut = young ? num(young.seq) - 1 : await this.maxSeq()
    if (ageCut > 0) {
      const n = (await this.sql`DELETE FROM events WHERE seq <= ${ageCut}`).count
      removed += n
      if (n) await this.raiseWatermark('*', ageCut)
    }
    const maxTotal = this.retention.maxTotal
    if (maxTotal !== undefined) {
      // Positions are dense: keeping the newest `maxTotal` positions keeps at most that many rows, without counting.
      const totalCut = (await this.maxSeq()) - maxTotal
      const [oldest] = await this.sql<{ seq: string }[]>`SELECT seq FROM events ORDER BY seq LIMIT 1`
      if (oldest && totalCut >= num(oldest.seq)) {
        removed += (await this.sql`DELETE FROM events WHERE seq <= ${totalCut}`).count
        await this.raiseWatermark('*', totalCut)
      }
    }
    for (const memory of touched) {
      const [cut] = await this.sql<{ seq: string }[]>`
        SELECT seq FROM events WHERE memory = ${memory} ORDER BY seq DESC LIMIT 1 OFFSET ${this.retention.count}`
      if (!cut) continue
      removed += (await this.sql`DELETE FROM events WHERE memory = ${memory} AND seq <= ${cut.seq}`).count
      await this.raiseWatermark(memory, num(cut.seq))
    }
    return removed
  }

  /** The newest committed row (0 when empty): what an age cut with no young row may remove through. */
  private async maxSeq(): Promise<number> {
    const [r] = await this.sql<{ seq: string | null }[]>`SELECT MAX(seq) AS seq FROM events`
    return numOrNull(r?.seq ?? null) ?? 0
  }

  private async raiseWatermark(memory: string, seq: number): Promise<void> {
    await this.sql`
      INSERT INTO event_watermarks (memory, pruned_through) VALUES (${memory}, ${seq})
      ON CONFLICT (memory) DO UPDATE SET pruned_through = GREATEST(event_watermarks.pruned_through, excluded.pruned_through)`
  }
}
