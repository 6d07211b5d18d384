/**
 * The load generator: one process, started by bench/run.ts for one scenario against one server that
 * runs in another process. It opens the clients, publishes, receives, samples the server's CPU and RSS
 * from /proc, and prints one `RESULT {json}` line. Progress goes to stderr.
 *
 *   bun bench/loadgen.ts '<Spec JSON>'
 */
import { signToken } from '../src/auth/sign.ts'
import { burst, health, metrics, metricSum, paced, publisher, settle, until, type PublishOne, type PublishStats } from './lib/drive.ts'
import type { Clients } from './lib/fleet.ts'
import { parseStamp } from './lib/frame.ts'
import { CpuMeter, loadAverage, RssSampler, rssMb, type CpuWindow } from './lib/proc.ts'
import { isFlat, rssTrend } from './lib/soak.ts'
import { emptyResult, RESULT_PREFIX, type RunResult, type Scenario, type Spec, type Target } from './lib/spec.ts'
import { sseFleet, type SseClients } from './lib/sse-fleet.ts'
import { Samples } from './lib/stats.ts'
import { wsFleet, type WsClients } from './lib/ws-fleet.ts'

const WARMUP_EVENTS = 50
/** Warm-up events carry negative sequence numbers so a late one is never counted as a measured delivery. */
const WARMUP_SEQ = -1_000_000

const log = (msg: string) => process.stderr.write(`  [loadgen] ${msg}\n`)

const readHeaders = (t: Target): Record<string, string> => (t.tokens ? { authorization: `Bearer ${t.tokens.read}` } : {})
const adminHeaders = (t: Target): Record<string, string> => ({ authorization: `Bearer ${t.tokens!.admin}`, 'content-type': 'application/json' })
const newStats = (): PublishStats => ({ sent: 0, errors: 0, late: 0 })

async function waitConnections(t: Target, kind: 'ws' | 'sse', n: number, timeoutMs = 15_000): Promise<boolean> {
  return until(async () => ((await health(t)).connections[kind] ?? 0) >= n, timeoutMs)
}

function finishCommon(r: RunResult, stats: PublishStats): void {
  if (stats.errors) r.notes.push(`${stats.errors} publish errors (first: ${stats.firstError})`)
  if (stats.late) r.notes.push(`publisher fell behind its schedule for ${stats.late} events (load generator saturated)`)
}

/** Opens `want` WebSocket clients and waits for the server to count them; returns how many opened. */
async function openWs(t: Target, fleet: WsClients, want: number, r: RunResult): Promise<number> {
  const opened = await fleet.open(want)
  r.clients = opened
  if (opened < want) r.notes.push(`only ${opened}/${want} clients connected`)
  await waitConnections(t, 'ws', opened)
  return opened
}

/** The uncounted warm-up: WARMUP_EVENTS events until each of the `clients` has them all, then forgotten. */
async function warmUp(fleet: Clients, publish: PublishOne, window: number, clients: number): Promise<void> {
  await burst(publish, WARMUP_EVENTS, window, WARMUP_SEQ)
  await settle(() => fleet.warmupReceived >= WARMUP_EVENTS * clients, () => fleet.warmupReceived, 2000, 30_000)
  fleet.reset()
}

/** Waits until the fleet has `expected` measured deliveries, or nothing arrived for 3 s, or `maxMs`. */
function deliveries(fleet: Clients, expected: number, maxMs: number): Promise<boolean> {
  return settle(() => fleet.received >= expected, () => fleet.received, 3000, maxMs)
}

/** What a fleet received of the measured events: each of the `opened` clients must have every one exactly. */
function deliveryResult(r: RunResult, fleet: Clients, stats: PublishStats, opened: number, t0: number): void {
  r.events = stats.sent
  r.delivered = fleet.received
  r.lossless = r.delivered === r.expected && fleet.complete(stats.sent) === opened && stats.errors === 0
  r.seconds = (fleet.lastReceiptAt - t0) / 1000
  r.deliveriesPerS = r.seconds > 0 ? fleet.received / r.seconds : null
  r.latency = fleet.latency.summary()
}

/** CPU over the measurement window: the server's, the load generator's and the rest of the machine's. */
function cpuResult(r: RunResult, w: CpuWindow): void {
  r.serverCpuPct = w.serverCpuPct
  r.clientCpuPct = w.clientCpuPct
  r.otherCpuPct = w.otherCpuPct
}

/** CPU over the window, and the server's RSS now and at its peak while `rss` sampled. */
function usageResult(r: RunResult, w: CpuWindow, pid: number, rss: RssSampler): void {
  cpuResult(r, w)
  r.serverRssMb = rssMb(pid)
  r.serverRssPeakMb = rss.peak
}

/** Waits until the server's job queue has nothing pending or running. */
function jobsDrained(t: Target, timeoutMs: number): Promise<boolean> {
  return until(async () => {
    const st = (await (await fetch(`${t.http}/api/v1/jobs/stats`, { headers: adminHeaders(t) })).json()) as { pending: number; running: number }
    return st.pending + st.running === 0
  }, timeoutMs)
}

/** WebSocket frames the server says it has written, all event types (`matric_ws_events_sent_total`). */
const wsFramesSent = (metricsText: string): number => metricSum(metricsText, 'matric_ws_events_sent_total') ?? 0

// ---------------------------------------------------------------- WebSocket fan-out (closed loop)

async function wsFanout(spec: Spec, s: Extract<Scenario, { kind: 'ws-fanout' }>, r: RunResult): Promise<void> {
  const t = spec.target
  const rss = new RssSampler(t.pid).start()
  const fleet = wsFleet(spec.client, { url: t.wsUrl, headers: readHeaders(t) })
  const opened = await openWs(t, fleet, s.clients, r)
  await warmUp(fleet, publisher(t, s.bytes, newStats()), s.window, opened)

  const stats = newStats()
  const cpu = new CpuMeter(t.pid).start()
  const t0 = performance.now()
  await burst(publisher(t, s.bytes, stats), s.events, s.window)
  const publishS = (performance.now() - t0) / 1000
  r.expected = stats.sent * opened
  await deliveries(fleet, r.expected, 180_000)
  const w = cpu.stop()
  rss.stop()

  deliveryResult(r, fleet, stats, opened, t0)
  usageResult(r, w, t.pid, rss)
  r.extra = {
    publishSeconds: publishS,
    eventsPerS: stats.sent / publishS,
    // Server CPU time per published event (HTTP publish + fan-out to every client): the cost the ratio hides.
    serverCpuUsPerEvent: (w.serverCpuPct / 100) * w.seconds * 1e6 / Math.max(1, stats.sent),
    serverSysUsPerEvent: (w.serverSysPct / 100) * w.seconds * 1e6 / Math.max(1, stats.sent),
    reordered: fleet.reordered,
    unexpectedCloses: Object.fromEntries(fleet.unexpectedCloses),
  }
  finishCommon(r, stats)
  fleet.closeAll()
}

// ---------------------------------------------------------------- WebSocket at a fixed rate (open loop)

async function wsRate(spec: Spec, s: Extract<Scenario, { kind: 'ws-rate' }>, r: RunResult): Promise<void> {
  const t = spec.target
  const rss = new RssSampler(t.pid).start()
  const fleet = wsFleet(spec.client, { url: t.wsUrl, headers: readHeaders(t) })
  const opened = await openWs(t, fleet, s.clients, r)
  await warmUp(fleet, publisher(t, s.bytes, newStats()), 1, opened)

  const stats = newStats()
  const cpu = new CpuMeter(t.pid).start()
  const t0 = performance.now()
  await paced(publisher(t, s.bytes, stats), s.rate, s.seconds, stats)
  r.expected = stats.sent * opened
  const drainStart = performance.now()
  await deliveries(fleet, r.expected, 120_000)
  const w = cpu.stop()
  rss.stop()

  deliveryResult(r, fleet, stats, opened, t0)
  usageResult(r, w, t.pid, rss)
  r.extra = {
    drainAfterLastPublishS: (fleet.lastReceiptAt - drainStart) / 1000,
    reordered: fleet.reordered,
    unexpectedCloses: Object.fromEntries(fleet.unexpectedCloses),
  }
  finishCommon(r, stats)
  fleet.closeAll()
}

// ---------------------------------------------------------------- idle connection memory

function medianRss(pid: number, samples = 5, gapMs = 200): Promise<number> {
  return (async () => {
    const xs: number[] = []
    for (let i = 0; i < samples; i++) {
      xs.push(rssMb(pid))
      await Bun.sleep(gapMs)
    }
    xs.sort((a, b) => a - b)
    return xs[xs.length >> 1]!
  })()
}

async function wsIdle(spec: Spec, s: Extract<Scenario, { kind: 'ws-idle' }>, r: RunResult): Promise<void> {
  const t = spec.target
  // Warm the code paths (auth, upgrade, handlers) so the delta is the connections, not lazy initialisation.
  const warm = wsFleet(spec.client, { url: t.wsUrl, headers: readHeaders(t) })
  await warm.open(20)
  warm.closeAll()
  await until(async () => (await health(t)).connections.ws === 0, 5000)
  await Bun.sleep(1000)
  const before = await medianRss(t.pid)

  const cpu = new CpuMeter(t.pid).start()
  const t0 = performance.now()
  const fleet = wsFleet(spec.client, { url: t.wsUrl, headers: readHeaders(t) })
  const opened = await fleet.open(s.clients, 200, 60_000)
  const connectS = (performance.now() - t0) / 1000
  const w = cpu.stop()
  r.clients = opened
  const gaugeOk = await waitConnections(t, 'ws', opened)
  await Bun.sleep(2000)
  const after = await medianRss(t.pid)

  // The connections are live, authenticated subscribers: one event must reach every one of them.
  const stats = newStats()
  await burst(publisher(t, 200, stats), 1, 1)
  r.expected = opened
  await deliveries(fleet, opened, 30_000)
  r.delivered = fleet.received
  r.events = stats.sent
  r.lossless = r.delivered === r.expected && opened === s.clients
  r.serverRssMb = after
  cpuResult(r, w)
  r.seconds = connectS
  r.extra = {
    rssBeforeMb: before,
    rssAfterMb: after,
    kbPerConnection: ((after - before) * 1024) / Math.max(1, opened),
    connectsPerS: opened / connectS,
    healthGauge: gaugeOk,
  }
  if (opened < s.clients) r.notes.push(`only ${opened}/${s.clients} connected (${fleet.openFailures} failed)`)
  fleet.closeAll()
}

// ---------------------------------------------------------------- SSE at a fixed rate

async function sseRate(spec: Spec, s: Extract<Scenario, { kind: 'sse-rate' }>, r: RunResult): Promise<void> {
  const t = spec.target
  const url = t.kind === 'ours' ? `${t.sseUrl}?types=job.progress` : t.sseUrl!
  const rss = new RssSampler(t.pid).start()
  const fleet = sseFleet(spec.client, url, readHeaders(t))
  const opened = await fleet.open(s.clients)
  r.clients = opened
  if (opened < s.clients) r.notes.push(`only ${opened}/${s.clients} streams opened (statuses ${JSON.stringify(Object.fromEntries(fleet.statuses))})`)
  if (!opened) throw new Error(`no SSE stream opened (statuses ${JSON.stringify(Object.fromEntries(fleet.statuses))})`)
  await waitConnections(t, 'sse', opened)

  await warmUp(fleet, publisher(t, s.bytes, newStats(), 'sse'), 1, opened)

  const stats = newStats()
  const cpu = new CpuMeter(t.pid).start()
  const t0 = performance.now()
  await paced(publisher(t, s.bytes, stats, 'sse'), s.rate, s.seconds, stats)
  r.expected = stats.sent * opened
  await deliveries(fleet, r.expected, 120_000)
  const w = cpu.stop()
  rss.stop()

  deliveryResult(r, fleet, stats, opened, t0)
  usageResult(r, w, t.pid, rss)
  r.frameBytes = fleet.frameBytes
  r.extra = { reordered: fleet.reordered, lagged: fleet.lagged, resyncs: fleet.resyncs, endedUnexpectedly: fleet.endedUnexpectedly }
  finishCommon(r, stats)
  fleet.closeAll()
}

// ---------------------------------------------------------------- webhooks

async function webhook(spec: Spec, s: Extract<Scenario, { kind: 'webhook' }>, r: RunResult): Promise<void> {
  const t = spec.target
  const seenIds = new Set<string>()
  const deliveredIds = new Set<string>()
  const seqs = new Set<number>()
  const latency = new Samples()
  let requests = 0
  let failed = 0
  let duplicates = 0
  let lastArrival = 0
  let unsigned = 0
  const requestsBySeq = new Map<number, number>()
  const eventIdBySeq = new Map<number, string>()
  const receiver = Bun.serve({
    hostname: '127.0.0.1',
    port: 0,
    async fetch(req) {
      const body = await req.text()
      const now = performance.now()
      requests++
      const id = req.headers.get('webhook-id') ?? ''
      const stamp = parseStamp(body)
      if (stamp) {
        requestsBySeq.set(stamp.seq, (requestsBySeq.get(stamp.seq) ?? 0) + 1)
        if (!eventIdBySeq.has(stamp.seq)) eventIdBySeq.set(stamp.seq, /"event_id":"([^"]+)"/.exec(body)?.[1] ?? '')
      }
      if (!id || !req.headers.get('webhook-signature')) unsigned++
      const fail =
        s.failMode === 'first' ? !seenIds.has(id) : s.failMode === 'random' ? Math.random() < 0.5 : s.failMode === 'alternate' ? requests % 2 === 1 : false
      seenIds.add(id)
      if (fail) {
        failed++
        return new Response('induced failure', { status: 500 })
      }
      if (deliveredIds.has(id)) duplicates++
      else {
        deliveredIds.add(id)
        if (stamp && stamp.seq >= 0) {
          seqs.add(stamp.seq)
          latency.push(now - stamp.t)
          lastArrival = now
        }
      }
      return new Response('ok')
    },
  })
  try {
    const create = await fetch(`${t.http}/api/v1/webhooks`, {
      method: 'POST',
      headers: adminHeaders(t),
      body: JSON.stringify({ url: `http://127.0.0.1:${receiver.port}/hook`, events: ['job.progress'], max_retries: 10, description: 'bench receiver' }),
    })
    if (create.status !== 201) throw new Error(`creating the webhook answered ${create.status}: ${(await create.text()).slice(0, 300)}`)
    const hook = (await create.json()) as { id: string }

    const rss = new RssSampler(t.pid).start()
    const stats = newStats()
    const cpu = new CpuMeter(t.pid).start()
    const t0 = performance.now()
    await burst(publisher(t, s.bytes, stats), s.events, s.window)
    const publishS = (performance.now() - t0) / 1000
    r.expected = stats.sent
    // Retries wait out the configured schedule: allow a long stall before calling it lost.
    await settle(() => seqs.size >= stats.sent, () => requests, 15_000, 300_000)
    const w = cpu.stop()
    rss.stop()

    r.events = stats.sent
    r.delivered = seqs.size
    r.lossless = seqs.size === stats.sent && stats.errors === 0
    r.seconds = (lastArrival - t0) / 1000
    r.deliveriesPerS = r.seconds > 0 ? seqs.size / r.seconds : null
    r.latency = latency.summary()
    usageResult(r, w, t.pid, rss)
    const h = await health(t)
    const m = await metrics(t)
    r.extra = {
      failMode: s.failMode,
      publishSeconds: publishS,
      receiverRequests: requests,
      receiverAnswered500: failed,
      duplicateDeliveries: duplicates,
      unsignedRequests: unsigned,
      queueDepthAfter: h.webhooks?.queue_depth,
      deliveriesSuccessMetric: metricSum(m, 'matric_webhook_deliveries_total{status="success"}'),
      deliveriesRetryMetric: metricSum(m, 'matric_webhook_deliveries_total{status="retry"}'),
    }
    if (unsigned) r.notes.push(`${unsigned} requests without webhook-id/webhook-signature`)
    if (!r.lossless) r.extra.missing = await missingReport(t, hook.id, stats.sent, seqs, requestsBySeq, eventIdBySeq)
    finishCommon(r, stats)
    await fetch(`${t.http}/api/v1/webhooks/${hook.id}`, { method: 'DELETE', headers: adminHeaders(t) })
  } finally {
    receiver.stop(true)
  }
}

/**
 * Why events did not arrive: how many requests the receiver saw for each missing event, and what the
 * server's attempt log says about them (newest 500 attempts).
 */
async function missingReport(
  t: Target,
  hookId: string,
  sent: number,
  arrived: Set<number>,
  requestsBySeq: Map<number, number>,
  eventIdBySeq: Map<number, string>,
): Promise<Record<string, unknown>> {
  const missing: number[] = []
  for (let i = 0; i < sent; i++) if (!arrived.has(i)) missing.push(i)
  const requestsSeen: Record<number, number> = {}
  for (const m of missing) {
    const n = requestsBySeq.get(m) ?? 0
    requestsSeen[n] = (requestsSeen[n] ?? 0) + 1
  }
  const ids = new Set(missing.map((m) => eventIdBySeq.get(m)).filter(Boolean))
  let serverAttempts: unknown[] = []
  try {
    const res = await fetch(`${t.http}/api/v1/webhooks/${hookId}/deliveries?limit=500`, { headers: adminHeaders(t) })
    const log = (await res.json()) as { event_id: string; attempt: number; status_code?: number; error?: string; success: boolean }[]
    serverAttempts = log.filter((a) => ids.has(a.event_id)).map((a) => ({ event_id: a.event_id, attempt: a.attempt, status: a.status_code, error: a.error }))
  } catch (e) {
    serverAttempts = [String(e)]
  }
  return { count: missing.length, firstSeqs: missing.slice(0, 10), missingEventsByRequestsSeen: requestsSeen, serverAttempts: serverAttempts.slice(0, 40) }
}

// ---------------------------------------------------------------- the job pipeline (POST /api/v1/notes)

const WORDS = (
  'event stream socket latency memory queue worker embedding vector cosine link note title tag retry backoff webhook ' +
  'signature replay cursor retention gauge histogram span trace publish subscribe topic frame envelope payload ' +
  'tenant token scope audience cookie origin proxy buffer pressure consumer producer batch window sample percentile'
).split(' ')

function noteContent(i: number): string {
  const words: string[] = [`# Bench note ${i}`, '']
  let x = (i * 2654435761) >>> 0
  for (let k = 0; k < 60; k++) {
    x = (x * 1103515245 + 12345) >>> 0
    words.push(WORDS[x % WORDS.length]!)
  }
  return words.join(' ')
}

function postNote(t: Target, i: number, tags: string[]): Promise<Response> {
  return fetch(`${t.http}/api/v1/notes`, { method: 'POST', headers: adminHeaders(t), body: JSON.stringify({ content: noteContent(i), tags }) })
}

async function pipeline(spec: Spec, s: Extract<Scenario, { kind: 'pipeline' }>, r: RunResult): Promise<void> {
  const t = spec.target
  const firstSeen = new Map<string, Float64Array>()
  let frames = new Int32Array(s.clients)
  const fleet = wsFleet(spec.client, {
    url: t.wsUrl,
    headers: readHeaders(t),
    onOther: (i, text, now) => {
      frames[i]!++
      if (!text.startsWith('{"type":"NoteUpdated"')) return
      const id = (JSON.parse(text) as { note_id: string }).note_id
      let a = firstSeen.get(id)
      if (!a) firstSeen.set(id, (a = new Float64Array(s.clients).fill(Number.NaN)))
      if (Number.isNaN(a[i]!)) a[i] = now
    },
  })
  const rss = new RssSampler(t.pid).start()
  const opened = await fleet.open(s.clients)
  r.clients = opened
  await waitConnections(t, 'ws', opened)
  frames = new Int32Array(s.clients)
  const sentBefore = wsFramesSent(await metrics(t))

  const posted = new Map<string, number>()
  const stats = newStats()
  const cpu = new CpuMeter(t.pid).start()
  const t0 = performance.now()
  await paced(
    async (i) => {
      const start = performance.now()
      try {
        const res = await postNote(t, i, ['bench'])
        if (res.status !== 201) {
          stats.errors++
          stats.firstError ??= `HTTP ${res.status}`
          return
        }
        posted.set(((await res.json()) as { id: string }).id, start)
        stats.sent++
      } catch (e) {
        stats.errors++
        stats.firstError ??= String(e)
      }
    },
    s.rate,
    s.notes / s.rate,
    stats,
  )
  const drained = await jobsDrained(t, 120_000)
  const drainedAt = performance.now()
  // Let the last frames (and any queue-status correction) arrive, then compare with what the server says it sent.
  let total = 0
  await settle(() => false, () => (total = frames.reduce((a, b) => a + b, 0)), 1500, 10_000)
  const w = cpu.stop()
  rss.stop()

  const sent = wsFramesSent(await metrics(t)) - sentBefore
  const perClient = sent / Math.max(1, opened)
  let complete = 0
  for (let i = 0; i < opened; i++) if (frames[i] === perClient) complete++
  const lat = new Samples()
  for (const [id, start] of posted) {
    const a = firstSeen.get(id)
    if (!a) continue
    for (let i = 0; i < opened; i++) if (!Number.isNaN(a[i]!)) lat.push(a[i]! - start)
  }
  r.events = stats.sent
  r.expected = sent
  r.delivered = total
  r.lossless = drained && complete === opened && total === sent && lat.length === posted.size * opened
  r.seconds = (drainedAt - t0) / 1000
  r.deliveriesPerS = r.seconds > 0 ? total / r.seconds : null
  r.latency = lat.summary()
  usageResult(r, w, t.pid, rss)
  r.extra = {
    notesPosted: stats.sent,
    framesPerClient: perClient,
    framesPerNote: perClient / Math.max(1, stats.sent),
    notesPerS: stats.sent / r.seconds,
    queueDrained: drained,
    latencyIs: 'POST /api/v1/notes start → first NoteUpdated frame for that note',
  }
  finishCommon(r, stats)
  fleet.closeAll()
}

// ---------------------------------------------------------------- soak: churn + events, then leak checks

async function soak(spec: Spec, s: Extract<Scenario, { kind: 'soak' }>, r: RunResult): Promise<void> {
  const t = spec.target
  const mix = t.tokens!.mix
  const rss = new RssSampler(t.pid, 1000).start()
  const steady = wsFleet(spec.client, { url: t.wsUrl, headers: readHeaders(t) })
  r.clients = await steady.open(s.steadyClients)
  const sseOn = Boolean(t.sseUrl) && s.sseClients > 0
  const steadySse = sseOn ? sseFleet(spec.client, `${t.sseUrl}?types=job.progress`, readHeaders(t)) : null
  if (steadySse) await steadySse.open(s.sseClients)

  // Churn: every tick open a batch with the next token of the mix (tag-restricted, other memories,
  // expiring) and close the oldest batches beyond the churn population.
  const tickMs = 200
  const perTick = Math.max(1, Math.round((s.churnPerS * tickMs) / 1000))
  const batches: WsClients[] = []
  const sseBatches: SseClients[] = []
  let churned = 0
  let churnFailures = 0
  let expiredEarlier = 0
  let otherCloses = 0
  let tick = 0
  let stopping = false
  const key = new TextEncoder().encode(t.tokens!.secret)
  const churn = (async () => {
    while (!stopping) {
      // Every sixth batch carries a token that expires while connected: the server must close it with 1008.
      const m =
        tick % 6 === 5
          ? { token: await signToken(key, { sub: 'soak-expiring', scope: 'read', memory: 'default', ttlS: 2 }), memory: 'default' }
          : mix[tick % mix.length]!
      tick++
      const sep = t.wsUrl.includes('?') ? '&' : '?'
      const b = wsFleet(spec.client, { url: `${t.wsUrl}${sep}memory=${encodeURIComponent(m.memory)}`, headers: { authorization: `Bearer ${m.token}` }, sampleCapacity: 1024 })
      const ok = await b.open(perTick, 50, 10_000)
      churnFailures += perTick - ok
      batches.push(b)
      churned += ok
      while (batches.length * perTick > s.churnClients) {
        const old = batches.shift()!
        expiredEarlier += old.unexpectedCloses.get(1008) ?? 0
        otherCloses += [...old.unexpectedCloses].filter(([code]) => code !== 1008).reduce((a, [, n]) => a + n, 0)
        old.closeAll()
      }
      if (sseOn && tick % 5 === 0) {
        const sb = sseFleet(spec.client, `${t.sseUrl}?memory=${encodeURIComponent(m.memory)}`, { authorization: `Bearer ${m.token}` }, 1024)
        await sb.open(Math.max(1, Math.round(perTick / 2)))
        sseBatches.push(sb)
        while (sseBatches.length > 10) sseBatches.shift()!.closeAll()
      }
      await Bun.sleep(tickMs)
    }
  })()

  // Notes through the job pipeline (queue-status corrections to tag groups, note events), deleted after a while.
  let notesPosted = 0
  const notes = (async () => {
    if (s.notesPerS <= 0) return
    const live: string[] = []
    let i = 0
    while (!stopping) {
      const tags = i % 2 ? ['soak-a'] : ['soak-b']
      try {
        const res = await postNote(t, i++, tags)
        if (res.status === 201) {
          live.push(((await res.json()) as { id: string }).id)
          notesPosted++
        }
        while (live.length > 50) await fetch(`${t.http}/api/v1/notes/${live.shift()}`, { method: 'DELETE', headers: adminHeaders(t) })
      } catch {}
      await Bun.sleep(1000 / s.notesPerS)
    }
  })()

  const stats = newStats()
  const cpu = new CpuMeter(t.pid).start()
  const t0 = performance.now()
  await paced(publisher(t, 256, stats), s.rate, s.seconds, stats)
  stopping = true
  await Promise.all([churn, notes])
  await deliveries(steady, stats.sent * r.clients, 30_000)
  const sseOpen = steadySse ? steadySse.size - steadySse.openFailures : 0
  if (steadySse) await deliveries(steadySse, stats.sent * sseOpen, 30_000)
  const w = cpu.stop()
  const runS = (performance.now() - t0) / 1000

  r.events = stats.sent
  r.expected = stats.sent * r.clients
  r.delivered = steady.received
  r.latency = steady.latency.summary()
  r.seconds = runS
  r.deliveriesPerS = steady.received / runS
  cpuResult(r, w)
  r.serverRssPeakMb = rss.peak

  // Everything closes; the gauges must return to zero and the jobs must drain.
  let expiryCloses = expiredEarlier
  for (const b of batches) expiryCloses += b.unexpectedCloses.get(1008) ?? 0
  for (const b of batches) b.closeAll()
  for (const b of sseBatches) b.closeAll()
  steady.closeAll()
  steadySse?.closeAll()
  const gaugesZero = await until(async () => {
    const h = await health(t)
    return h.connections.ws === 0 && (h.connections.sse ?? 0) === 0
  }, 15_000)
  const drained = await jobsDrained(t, 60_000)
  await Bun.sleep(2500) // let a queue-status correction interval pass
  const h = await health(t)
  const m0 = await metrics(t)
  const wsGauge = metricSum(m0, 'matric_ws_connections_active')
  const sseGauge = metricSum(m0, 'matric_sse_connections_active')

  // Subscriptions: with no client left, an event must reach nobody; with one new client, exactly one.
  const one = newStats()
  await burst(publisher(t, 256, one), 1, 1, 1_000_000_000)
  await Bun.sleep(300)
  const m1 = await metrics(t)
  const sentToNobody = wsFramesSent(m1) - wsFramesSent(m0)
  const probe = wsFleet(spec.client, { url: t.wsUrl, headers: readHeaders(t) })
  await probe.open(1)
  await waitConnections(t, 'ws', 1)
  await burst(publisher(t, 256, one), 1, 1, 1_000_000_001)
  await deliveries(probe, 1, 5000)
  await Bun.sleep(300)
  const m2 = await metrics(t)
  const sentToOne = wsFramesSent(m2) - wsFramesSent(m1)
  probe.closeAll()
  await until(async () => (await health(t)).connections.ws === 0, 5000)

  // Timers and loops: an idle server with no clients should use (almost) no CPU.
  await Bun.sleep(1000)
  const idle = new CpuMeter(t.pid).start()
  await Bun.sleep(2000)
  const idleCpu = idle.stop().serverCpuPct
  rss.stop()
  r.serverRssMb = rssMb(t.pid)

  const warmupS = Math.min(60, Math.max(3, runS * 0.2))
  const trend = rssTrend(rss.series.filter((x) => x.t <= runS + 1), warmupS)
  const leakFree = gaugesZero && wsGauge === 0 && (sseGauge ?? 0) === 0 && sentToNobody === 0 && sentToOne === 1
  r.lossless = r.delivered === r.expected && stats.errors === 0 && (!steadySse || steadySse.received === stats.sent * sseOpen)
  r.extra = {
    rssTrend: trend,
    rssFlat: isFlat(trend),
    rssSeries: rss.series.map((x) => [Math.round(x.t), Math.round(x.mb * 10) / 10]),
    churnedConnections: churned,
    churnFailures,
    tokenExpiryCloses1008: expiryCloses,
    otherServerCloses: otherCloses,
    churnedSseBatches: sseOn,
    notesPosted,
    health: h,
    gaugesZero,
    wsGauge,
    sseGauge,
    jobsDrained: drained,
    wsFramesSentWithNoClient: sentToNobody,
    wsFramesSentWithOneClient: sentToOne,
    idleServerCpuPct: idleCpu,
    leakFree,
    steadyUnexpectedCloses: Object.fromEntries(steady.unexpectedCloses),
    steadySse: steadySse
      ? { streams: sseOpen, delivered: steadySse.received, expected: stats.sent * sseOpen, p99: steadySse.latency.summary().p99, endedUnexpectedly: steadySse.endedUnexpectedly, lagged: steadySse.lagged }
      : null,
  }
  finishCommon(r, stats)
}

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2] ?? '') as Spec
  const r = emptyResult(spec)
  r.loadavg = loadAverage()
  const s = spec.scenario
  try {
    switch (s.kind) {
      case 'ws-fanout':
        await wsFanout(spec, s, r)
        break
      case 'ws-rate':
        await wsRate(spec, s, r)
        break
      case 'ws-idle':
        await wsIdle(spec, s, r)
        break
      case 'sse-rate':
        await sseRate(spec, s, r)
        break
      case 'webhook':
        await webhook(spec, s, r)
        break
      case 'pipeline':
        await pipeline(spec, s, r)
        break
      case 'soak':
        await soak(spec, s, r)
        break
    }
  } catch (e) {
    r.error = e instanceof Error ? e.message : String(e)
    log(`error: ${r.error}`)
  }
  process.stdout.write(RESULT_PREFIX + JSON.stringify(r) + '\n')
  // Thousands of sockets may still be closing; the runner has what it needs.
  process.exit(0)
}

await main()
