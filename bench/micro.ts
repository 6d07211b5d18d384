/**
 * Timing around the publish path, in-process (no network, no clients): what one external publish costs
 * the server, piece by piece. Complements the load runs, where these costs hide inside "server CPU".
 *
 *   bun bench/micro.ts [--n 5000]
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createApp } from '../src/app.ts'
import { signToken } from '../src/auth/sign.ts'
import { createVerifier } from '../src/auth/verify.ts'
import { loadConfig } from '../src/config.ts'
import { createContext } from '../src/context.ts'
import { EventBus } from '../src/events/bus.ts'
import { hotmFrame } from '../src/modules/realtime/hotm.ts'
import { openDatabase } from '../src/store/sqlite/db.ts'
import { SqliteEventStore } from '../src/store/sqlite/events.ts'
import { createLogger } from '../src/telemetry/log.ts'
import { Metrics } from '../src/telemetry/metrics.ts'
import { benchPayload, frameOf } from './lib/frame.ts'

const nArg = process.argv.indexOf('--n')
const N = nArg > 0 ? Number(process.argv[nArg + 1]) : 5000

async function time(label: string, n: number, fn: (i: number) => unknown | Promise<unknown>): Promise<{ label: string; us: number }> {
  for (let i = 0; i < Math.min(200, n); i++) await fn(i) // warm the JIT
  const t0 = performance.now()
  for (let i = 0; i < n; i++) await fn(i)
  const us = ((performance.now() - t0) * 1000) / n
  return { label, us }
}

const dir = mkdtempSync(join(tmpdir(), 'matric-micro-'))
const rows: { label: string; us: number }[] = []
try {
  const secret = new TextEncoder().encode('x'.repeat(64))
  const token = await signToken(secret, { sub: 'bench-admin', scope: 'admin', memory: '*', ttlS: 3600 })
  const verifier = createVerifier({ secret, isRevoked: () => false })
  rows.push(await time('JWT verify, the same token again (src/auth/verify.ts as configured)', N, () => verifier.verify(token)))
  const fresh = await Promise.all(Array.from({ length: N + 200 }, (_, i) => signToken(secret, { sub: `u${i}`, scope: 'read', ttlS: 3600 })))
  rows.push(await time('JWT verify, a token not seen before', N, (i) => verifier.verify(fresh[i]!)))

  const key = await crypto.subtle.importKey('raw', secret, { name: 'HMAC', hash: 'SHA-256' }, false, ['verify'])
  const [h, p, s] = token.split('.') as [string, string, string]
  const sig = Buffer.from(s, 'base64url')
  const data = new TextEncoder().encode(`${h}.${p}`)
  rows.push(await time('  WebCrypto HMAC verify alone (async)', N, () => crypto.subtle.verify('HMAC', key, sig, data)))
  rows.push(
    await time('  alternative: Bun.CryptoHasher HMAC (sync)', N, () => {
      const mac = new Bun.CryptoHasher('sha256', secret).update(`${h}.${p}`).digest()
      return mac.length === sig.length && crypto.timingSafeEqual(mac, sig)
    }),
  )

  const metrics = new Metrics()
  rows.push(await time('Metrics.eventLatency (one histogram record)', N * 10, (i) => metrics.eventLatency('sse', i % 50)))
  await metrics.shutdown()

  const payload = benchPayload(1, performance.now(), 256)
  rows.push(await time('hotmFrame (WS serialisation)', N * 10, () => hotmFrame(payload)))

  const db = openDatabase(join(dir, 'log.db'))
  const log = new SqliteEventStore(db, { count: 10_000, hours: 24 })
  const envelope = JSON.stringify({ payload })
  rows.push(
    await time('EventLog.appendBatch of 1 (one transaction per event, WAL, synchronous=NORMAL)', N, (i) =>
      log.appendBatch([{ event_id: `e-${i}-${Math.random()}`, memory: 'default', event_type: 'job.progress', entity_id: 'x', tags: null, envelope, created_ms: Date.now() }]),
    ),
  )
  const batch = Array.from({ length: 50 }, (_, k) => ({ event_id: '', memory: 'default', event_type: 'job.progress', entity_id: 'x', tags: null, envelope, created_ms: Date.now(), k }))
  const perBatch = await time('EventLog.appendBatch of 50 (one transaction)', Math.ceil(N / 50), (i) =>
    log.appendBatch(batch.map(({ k, ...row }) => ({ ...row, event_id: `b-${i}-${k}-${Math.random()}` }))),
  )
  rows.push(perBatch, { label: '  per event', us: perBatch.us / 50 })
  const bus = new EventBus({ log, startSeq: await log.lastSeq(), metrics: new Metrics(), logger: createLogger('warn') })
  rows.push(
    await time('EventBus.publish + flush, one event per flush (envelope, JSON, log, metrics; no subscribers)', N, () => {
      bus.publish({ memory: 'default', payload })
      return bus.flush()
    }),
  )
  const burst50 = await time('EventBus: 50 publishes, one flush (group commit)', Math.ceil(N / 50), () => {
    for (let k = 0; k < 50; k++) bus.publish({ memory: 'default', payload })
    return bus.flush()
  })
  rows.push(burst50, { label: '  per event', us: burst50.us / 50 })
  await bus.flush()
  db.close()

  const config = loadConfig({ MATRIC_DATA_DIR: join(dir, 'app'), MATRIC_JWT_SECRET: 'x'.repeat(64), MATRIC_LOG_LEVEL: 'warn' })
  const ctx = await createContext(config)
  const app = createApp(ctx)
  const body = `{"payload":${frameOf(payload)}}`
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' }
  const status = (await app.handle(new Request('http://localhost/api/v1/events', { method: 'POST', headers, body }))).status
  if (status !== 202) throw new Error(`POST /api/v1/events answered ${status}`)
  rows.push(
    await time('POST /api/v1/events through app.handle (routing, auth, validation, publish; no sockets)', N, async () => {
      const res = await app.handle(new Request('http://localhost/api/v1/events', { method: 'POST', headers, body }))
      await res.arrayBuffer()
    }),
  )
  rows.push(
    await time('GET /health through app.handle (framework floor)', N, async () => {
      const res = await app.handle(new Request('http://localhost/health'))
      await res.arrayBuffer()
    }),
  )
  await ctx.close()
} finally {
  rmSync(dir, { recursive: true, force: true })
}

console.log(`| step (n = ${N}) | µs per call |\n|---|---|`)
for (const r of rows) console.log(`| ${r.label} | ${r.us.toFixed(1)} |`)
