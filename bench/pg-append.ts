/**
 * EventStore.appendBatch throughput on PostgreSQL (src/store/postgres/events.ts): events/s with batches of 1 and
 * of 50, from one appender and from several at once (they queue on the event_positions row lock until each
 * commits). Runs on a throwaway database it creates and drops.
 *
 *   bun bench/pg-append.ts [--seconds 3] [--concurrency 8]     (MATRIC_TEST_DATABASE_URL or the local server)
 */
import { SQL } from 'bun'
import { parseArgs } from 'node:util'
import { deriveKey, SecretBox } from '../src/modules/webhooks/secret-box.ts'
import { openPostgresStores } from '../src/store/postgres/index.ts'
import type { NewEventRow } from '../src/events/store.ts'

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '3' }, concurrency: { type: 'string', default: '8' } } })
const seconds = Number(values.seconds)
const concurrency = Number(values.concurrency)
const adminUrl = process.env.MATRIC_TEST_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres'

const name = `matric_bench_${crypto.randomUUID().replace(/-/g, '').slice(0, 12)}`
const admin = new SQL(adminUrl, { max: 1 })
await admin.unsafe(`CREATE DATABASE ${name}`)
const url = new URL(adminUrl)
url.pathname = `/${name}`

const envelope = JSON.stringify({ type: 'NoteUpdated', data: { note_id: crypto.randomUUID(), title: 'x'.repeat(120) } })
const row = (memory: string): NewEventRow => ({
  event_id: crypto.randomUUID(),
  memory,
  event_type: 'NoteUpdated',
  entity_id: crypto.randomUUID(),
  tags: '["a","b"]',
  envelope,
  created_ms: Date.now(),
})

try {
  // Retention as the server's defaults would have it per memory: the periodic prune is part of the measured cost.
  const stores = await openPostgresStores(url.toString(), {
    retention: { count: 10_000, hours: 24 },
    box: new SecretBox(deriveKey('bench-key-material-0123456789abcdefghijkl')),
    maxConnections: Math.max(10, concurrency),
  })
  console.log(`PostgreSQL appendBatch, ${seconds} s per case, ${navigator.hardwareConcurrency} cores`)
  console.log('| batch | appenders | events/s | batches/s | mean ms per batch |')
  console.log('|---:|---:|---:|---:|---:|')
  for (const batch of [1, 50]) {
    for (const appenders of [1, concurrency]) {
      let events = 0
      let batches = 0
      let busyMs = 0
      const end = performance.now() + seconds * 1000
      await Promise.all(
        Array.from({ length: appenders }, async (_, i) => {
          const memory = `bench-${i % 4}`
          while (performance.now() < end) {
            const rows = Array.from({ length: batch }, () => row(memory))
            const t = performance.now()
            await stores.events.appendBatch(rows)
            busyMs += performance.now() - t
            events += batch
            batches++
          }
        }),
      )
      const fmt = (n: number) => Math.round(n).toLocaleString('en-US')
      console.log(`| ${batch} | ${appenders} | ${fmt(events / seconds)} | ${fmt(batches / seconds)} | ${(busyMs / batches).toFixed(2)} |`)
    }
  }
  await stores.close()
} finally {
  await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
  await admin.close()
}
