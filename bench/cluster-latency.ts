/**
 * The extra latency of a cross-instance delivery (docs/cluster.md): two instances (`bun src/index.ts` processes)
 * on a throwaway PostgreSQL database, a WebSocket and an SSE client on each, events published one at a time on A.
 * For each event: from the publishing request being sent to its frame arriving at A's clients (same instance) and
 * at B's (across: NOTIFY, then B's catch-up read of the log). Prints p50/p95/p99 of both and of the difference.
 *
 *   bun bench/cluster-latency.ts [--events 1000] [--gap-ms 2] [--concurrency 1]
 *
 * --concurrency N runs N publishers at once (batches form: the catch-up read then carries several events).
 */
import { SQL } from 'bun'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { signToken } from '../src/auth/sign.ts'
import { spawnServer, type ServerProcess } from '../tests/helpers/process.ts'
import { summarize } from './lib/stats.ts'

const { values } = parseArgs({ options: { events: { type: 'string', default: '1000' }, 'gap-ms': { type: 'string', default: '2' }, concurrency: { type: 'string', default: '1' } } })
const N = Number(values.events)
const gapMs = Number(values['gap-ms'])
const concurrency = Number(values.concurrency)
const adminUrl = process.env.MATRIC_TEST_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres'
const SECRET = 'bench-secret-for-matric-realtime-0123456789abcdef'

const name = `matric_bench_${crypto.randomUUID().replace(/-/g, '').slice(0, 12)}`
const admin = new SQL(adminUrl, { max: 1 })
await admin.unsafe(`CREATE DATABASE ${name}`)
const url = new URL(adminUrl)
url.pathname = `/${name}`
const dirs: string[] = []
const nodes: ServerProcess[] = []

/** Arrival time (performance.now()) of each job id, per client. */
type Arrivals = Map<string, number>

function wsClient(port: number, token: string, into: Arrivals): Promise<WebSocket> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/api/v1/ws?token=${token}&memory=default`)
  ws.onmessage = (e) => {
    const t = performance.now()
    const f = JSON.parse(String(e.data)) as { type: string; job_id?: string }
    if (f.type === 'JobCompleted' && f.job_id) into.set(f.job_id, t)
  }
  return new Promise((resolve, reject) => {
    ws.onopen = () => resolve(ws)
    ws.onerror = () => reject(new Error('WebSocket failed'))
  })
}

async function sseClient(port: number, token: string, into: Arrivals, signal: AbortSignal): Promise<void> {
  const res = await fetch(`http://127.0.0.1:${port}/api/v1/events?memory=default`, { headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' }, signal })
  const reader = res.body!.getReader()
  const dec = new TextDecoder()
  let buf = ''
  let resolveOpen!: () => void
  const open = new Promise<void>((r) => (resolveOpen = r))
  void (async () => {
    try {
      for (;;) {
        const { value, done } = await reader.read()
        if (done) return
        const t = performance.now()
        buf += dec.decode(value, { stream: true })
        let i: number
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i)
          buf = buf.slice(i + 2)
          resolveOpen()
          const data = block.split('\n').find((l) => l.startsWith('data:'))
          if (!data || !block.includes('event: job.completed')) continue
          const id = (JSON.parse(data.slice(5)) as { payload: { job_id: string } }).payload.job_id
          into.set(id, t)
        }
      }
    } catch {
      // aborted at the end
    }
  })()
  await open
}

try {
  for (let i = 0; i < 2; i++) {
    const dir = mkdtempSync(join(tmpdir(), 'matric-bench-cluster-'))
    dirs.push(dir)
    nodes.push(
      await spawnServer({
        MATRIC_DATABASE_URL: url.toString(),
        MATRIC_DATA_DIR: dir,
        MATRIC_JWT_SECRET: SECRET,
        MATRIC_WEBHOOK_SECRET_KEY: 'bench-webhook-key-0123456789abcdefghijkl',
        MATRIC_NODE_ID: `bench-${i}`,
        MATRIC_LOG_LEVEL: 'info',
      }),
    )
  }
  const [a, b] = nodes as [ServerProcess, ServerProcess]
  const token = await signToken(new TextEncoder().encode(SECRET), { sub: 'bench', scope: 'admin', memory: '*', ttlS: 3600 })
  const arrivals = { wsA: new Map(), wsB: new Map(), sseA: new Map(), sseB: new Map() } satisfies Record<string, Arrivals>
  const ac = new AbortController()
  const sockets = [await wsClient(a.port, token, arrivals.wsA), await wsClient(b.port, token, arrivals.wsB)]
  await sseClient(a.port, token, arrivals.sseA, ac.signal)
  await sseClient(b.port, token, arrivals.sseB, ac.signal)

  const sent = new Map<string, number>()
  const publish = async (id: string) => {
    sent.set(id, performance.now())
    const res = await fetch(`${a.url}/api/v1/events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ payload: { type: 'JobCompleted', job_id: id, job_type: 'Embedding' } }),
    })
    if (res.status !== 202) throw new Error(`publish: HTTP ${res.status}`)
    await res.arrayBuffer()
  }
  // Warm-up (connections, JIT), not measured.
  for (let i = 0; i < 50; i++) await publish(`warm-${i}`)
  const perWorker = Math.ceil(N / concurrency)
  const t0 = performance.now()
  await Promise.all(
    Array.from({ length: concurrency }, async (_, w) => {
      for (let i = 0; i < perWorker; i++) {
        await publish(`e-${w}-${i}`)
        if (gapMs) await Bun.sleep(gapMs)
      }
    }),
  )
  const elapsedS = (performance.now() - t0) / 1000
  const ids = [...sent.keys()].filter((k) => k.startsWith('e-'))
  const deadline = Date.now() + 10_000
  while (Date.now() < deadline && !Object.values(arrivals).every((m) => ids.every((id) => m.has(id)))) await Bun.sleep(20)

  const lat = (m: Arrivals) => Float64Array.from(ids.filter((id) => m.has(id)).map((id) => m.get(id)! - sent.get(id)!))
  const extra = (far: Arrivals, near: Arrivals) => Float64Array.from(ids.filter((id) => far.has(id) && near.has(id)).map((id) => far.get(id)! - near.get(id)!))
  const fmt = (s: ReturnType<typeof summarize>) => `n=${s.count} p50=${s.p50.toFixed(2)} p95=${s.p95.toFixed(2)} p99=${s.p99.toFixed(2)} max=${s.max.toFixed(2)} ms`
  console.log(`events=${ids.length} gap=${gapMs}ms publishers=${concurrency} rate=${Math.round(ids.length / elapsedS)}/s (request sent → frame received)`)
  console.log(`WS  same instance (A):   ${fmt(summarize(lat(arrivals.wsA)))}`)
  console.log(`WS  cross instance (B):  ${fmt(summarize(lat(arrivals.wsB)))}`)
  console.log(`WS  extra, B − A per event: ${fmt(summarize(extra(arrivals.wsB, arrivals.wsA)))}`)
  console.log(`SSE same instance (A):   ${fmt(summarize(lat(arrivals.sseA)))}`)
  console.log(`SSE cross instance (B):  ${fmt(summarize(lat(arrivals.sseB)))}`)
  console.log(`SSE extra, B − A per event: ${fmt(summarize(extra(arrivals.sseB, arrivals.sseA)))}`)
  const lost = Object.entries(arrivals).map(([k, m]) => `${k}=${ids.filter((id) => !m.has(id)).length}`)
  console.log(`missing: ${lost.join(' ')}`)
  for (const s of sockets) s.close()
  ac.abort()
} finally {
  for (const p of nodes) {
    p.proc.kill('SIGTERM')
    await p.proc.exited
  }
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
  await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
  await admin.close()
}
