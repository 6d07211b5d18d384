import type { Database, Statement } from 'bun:sqlite'
import type { EventPosition, EventRow, EventStore, NewEventRow, Retention } from '../../events/store.ts'

/**
 * The event log on SQLite (port: events/store.ts). Positions are the rowid-backed `seq` (AUTOINCREMENT): one
 * writer per database, so commit order is position order. Methods are async functions that never await: the work
 * is done synchronously and the promise is settled when returned — no extra turn of the event loop on the hot path.
 */
export class SqliteEventStore implements EventStore {
  private insert: Statement
  private seqOfId: Statement
  private byMemoryAfter: Statement | undefined
  private lastSeqStmt: Statement | undefined
  private allAfter: Statement | undefined
  private oldestOfMemory: Statement | undefined
  private watermarkOf: Statement | undefined
  /** Memories appended to since the last prune (their count limit is checked then). */
  private touched = new Set<string>()
  private appendsSincePrune = 0
  private appendTx: (rows: readonly NewEventRow[]) => number[]
  private perSecondStmt: Statement | undefined

  constructor(
    private db: Database,
    private retention: Retention,
  ) {
    this.insert = db.query(
      'INSERT INTO events (event_id, memory, event_type, entity_id, tags, envelope, created_ms) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING seq',
    )
    this.seqOfId = db.query('SELECT seq, memory, tags FROM events WHERE event_id = ?')
    this.appendTx = db.transaction((rows: readonly NewEventRow[]): number[] => {
      const seqs = rows.map((e) => (this.insert.get(e.event_id, e.memory, e.event_type, e.entity_id, e.tags, e.envelope, e.created_ms) as { seq: number }).seq)
      for (const e of rows) this.touched.add(e.memory)
      this.appendsSincePrune += rows.length
      if (this.appendsSincePrune >= 500) this.pruneNow()
      return seqs
    })
  }

  /** Appends events in one transaction (with the periodic prune); returns their seqs in order. */
  async appendBatch(rows: readonly NewEventRow[]): Promise<number[]> {
    return this.appendTx(rows)
  }

  async positionOf(eventId: string): Promise<EventPosition | null> {
    return this.seqOfId.get(eventId) as EventPosition | null
  }

  async lastSeq(): Promise<number> {
    return this.lastSeqNow()
  }

  private lastSeqNow(): number {
    this.lastSeqStmt ??= this.db.query('SELECT COALESCE(MAX(seq), 0) AS seq FROM events')
    return (this.lastSeqStmt.get() as { seq: number }).seq
  }

  async perSecond(memory: string, fromMs: number): Promise<{ s: number; n: number }[]> {
    this.perSecondStmt ??= this.db.query('SELECT created_ms / 1000 AS s, COUNT(*) AS n FROM events WHERE created_ms >= ? AND memory = ? GROUP BY s')
    return this.perSecondStmt!.all(fromMs, memory) as { s: number; n: number }[]
  }

  /** Events of every memory after `afterSeq`, oldest first (the primary key's order). */
  async readAfter(afterSeq: number, limit: number): Promise<EventRow[]> {
    this.allAfter ??= this.db.query('SELECT * FROM events WHERE seq > ? ORDER BY seq LIMIT ?')
    return this.allAfter.all(afterSeq, limit) as EventRow[]
  }

  /**
   * Events of one memory with seq greater than `afterSeq`, oldest first (SSE replay pages; uses the
   * (memory, seq) index). Prepared once, on first use.
   */
  async afterInMemory(memory: string, afterSeq: number, limit = 500): Promise<EventRow[]> {
    this.byMemoryAfter ??= this.db.query('SELECT * FROM events WHERE memory = ? AND seq > ? ORDER BY seq LIMIT ?')
    return this.byMemoryAfter!.all(memory, afterSeq, limit) as EventRow[]
  }

  /** The oldest retained event of a memory (seq and creation time), or null when it has none. */
  async oldestInMemory(memory: string): Promise<{ seq: number; created_ms: number } | null> {
    this.oldestOfMemory ??= this.db.query('SELECT seq, created_ms FROM events WHERE memory = ? ORDER BY seq LIMIT 1')
    return this.oldestOfMemory!.get(memory) as { seq: number; created_ms: number } | null
  }

  /** The highest seq retention removed from a memory's log (by its count limit or the age cut); 0 = none. */
  async prunedThrough(memory: string): Promise<number> {
    this.watermarkOf ??= this.db.query("SELECT COALESCE(MAX(pruned_through), 0) AS seq FROM event_watermarks WHERE memory IN (?, '*')")
    return (this.watermarkOf!.get(memory) as { seq: number }).seq
  }

  /**
   * Retention: no event older than the age limit (every memory), and at most `count` events per memory — so one
   * busy memory never pushes another memory's resume points out. The count cut runs for the memories appended to
   * since the last prune. Records how far each memory was pruned (see `prunedThrough`).
   */
  async prune(nowMs = Date.now()): Promise<number> {
    return this.pruneNow(nowMs)
  }

  private pruneNow(now = Date.now()): number {
    this.appendsSincePrune = 0
    const touched = this.touched
    this.touched = new Set()
    const cutoff = now - this.retention.hours * 3600_000
    let removed = 0
    // seq order is creation order: the first row young enough bounds the old ones (no index on created_ms).
    const firstYoung = (this.db.query('SELECT seq FROM events WHERE created_ms >= ? ORDER BY seq LIMIT 1').get(cutoff) as { seq: number } | null)?.seq
    const ageCut = (firstYoung ?? this.lastSeqNow() + 1) - 1
    if (ageCut > 0) {
      const r = this.db.query('DELETE FROM events WHERE seq <= ?').run(ageCut)
      removed += r.changes
      if (r.changes) this.raiseWatermark('*', ageCut)
    }
    // The backstop: positions are dense and increasing, so keeping the newest `maxTotal` positions keeps at most
    // that many rows, without counting them.
    const maxTotal = this.retention.maxTotal
    if (maxTotal !== undefined) {
      const totalCut = this.lastSeqNow() - maxTotal
      const oldest = this.db.query('SELECT seq FROM events ORDER BY seq LIMIT 1').get() as { seq: number } | null
      if (oldest && totalCut >= oldest.seq) {
        removed += this.db.query('DELETE FROM events WHERE seq <= ?').run(totalCut).changes
        this.raiseWatermark('*', totalCut)
      }
    }
    for (const memory of touched) {
      const cut = this.db.query('SELECT seq FROM events WHERE memory = ? ORDER BY seq DESC LIMIT 1 OFFSET ?').get(memory, this.retention.count) as { seq: number } | null
      if (!cut) continue
      removed += this.db.query('DELETE FROM events WHERE memory = ? AND seq <= ?').run(memory, cut.seq).changes
      this.raiseWatermark(memory, cut.seq)
    }
    return removed
  }

  private raiseWatermark(memory: string, seq: number): void {
    this.db
      .query('INSERT INTO event_watermarks (memory, pruned_through) VALUES (?, ?) ON CONFLICT (memory) DO UPDATE SET pruned_through = MAX(pruned_through, excluded.pruned_through)')
      .run(memory, seq)
  }
}
