/**
 * How long the event log's group commits stall the event loop, with SQLite's automatic WAL checkpoint (inside
 * the commit that crosses 1,000 WAL pages) and with the checkpoint thread (src/store/sqlite/checkpointer.ts). Runs both,
 * interleaved, `--runs` times each, on a file database in a temp dir: 3,000 commits of 10 events (≈1 KB each),
 * 1 ms apart every 10 commits. Prints p50/p99/p99.9/max of the commit time.
 *
 *   bun bench/commit-stalls.ts [--runs 3]
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Checkpointer } from '../src/store/sqlite/checkpointer.ts'
import { openDatabase } from '../src/store/sqlite/db.ts'
import { SqliteEventStore } from '../src/store/sqlite/events.ts'
import { createLogger } from '../src/telemetry/log.ts'

const runsArg = process.argv.indexOf('--runs')
const RUNS = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 3

async function run(mode: 'auto' | 'thread'): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'matric-commit-stalls-'))
  const path = join(dir, 'm.db')
  const db = openDatabase(path)
  const checkpointer = mode === 'thread' ? Checkpointer.start(db, path, createLogger('warn')) : undefined
  const log = new SqliteEventStore(db, { count: 10_000, hours: 24 })
  const envelope = JSON.stringify({ pad: 'x'.repeat(900) })
  const times: number[] = []
  for (let b = 0; b < 3000; b++) {
    const rows = Array.from({ length: 10 }, (_, i) => ({
      event_id: `e${b}-${i}-${Math.random()}`,
      memory: 'default',
      event_type: 'job.progress',
      entity_id: 'x',
      tags: null,
      envelope,
      created_ms: Date.now(),
    }))
    const t = performance.now()
    await log.appendBatch(rows) // the SQLite store commits synchronously; the await adds one microtask
    times.push(performance.now() - t)
    if (b % 10 === 0) await new Promise((r) => setTimeout(r, 1))
  }
  await checkpointer?.stop()
  db.close()
  rmSync(dir, { recursive: true, force: true })
  times.sort((a, b) => a - b)
  const q = (p: number) => times[Math.floor(p * (times.length - 1))]!.toFixed(2)
  return `| ${mode === 'auto' ? 'automatic checkpoint (in the commit)' : 'checkpoint thread'} | ${q(0.5)} | ${q(0.99)} | ${q(0.999)} | ${times.at(-1)!.toFixed(1)} |`
}

console.log('| WAL checkpoint | p50 ms | p99 ms | p99.9 ms | max ms |')
console.log('|---|---|---|---|---|')
for (let i = 0; i < RUNS; i++) for (const mode of ['auto', 'thread'] as const) console.log(await run(mode))
