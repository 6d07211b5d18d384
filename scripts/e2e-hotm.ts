/**
 * End-to-end check of the current HotM web client against this server.
 *
 *   npm run e2e:hotm -- <path to a HotM checkout>        (the directory holding ui/src/…)
 *
 * Bundles HotM's realtime modules unchanged from the checkout (scripts/e2e-hotm/build.ts), serves them in a
 * harness page through nginx in front of a real server process, drives the page in headless Chromium and
 * checks what HotM makes of the server: connection, queue counters, every event type we emit, replay across a
 * server restart, externally published events, resync past the replay window — once with MATRIC_AUTH=off (anonymous local profile) and once with auth required (bearer
 * token, a selected memory, the tenant bound). Prints PASS/FAIL per scenario; exit code 1 on any failure,
 * 2 on bad usage. HotM is never copied into this repository: see docs/hotm.md.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { signToken } from '../src/auth/sign.ts'
import { startInference, type InferenceDouble, type RecordedRequest, type Reply } from '../tests/doubles/inference.ts'
import { spawnServer, type ServerProcess } from '../tests/helpers/process.ts'
import { SseClient, type SseFrame } from '../tests/helpers/sse-client.ts'
import { buildHarness, HARNESS_HTML, missingHotmFiles } from './e2e-hotm/build.ts'
import {
  COALESCED,
  diffSequence,
  EMITTED,
  fmtCounts,
  isCleanDiff,
  ruleFor,
  ruleViolations,
  sameCounts,
  type Counts,
  type RulesDocument,
} from './e2e-hotm/checks.ts'
import { launchBrowser } from '../tests/e2e/lib/browser.ts'
import { startNginx, type RunningNginx } from '../tests/e2e/lib/nginx.ts'
import type { BusEvent, JobsActions, Snapshot, WireFrame } from './e2e-hotm/page/entry.ts'

const SECRET = 'e2e-hotm-secret-0123456789abcdef0123456789abcdef'
const TENANT = 'default'

/** A port that was free a moment ago: the server keeps its port across the restart (nginx points at it). */
async function freePort(): Promise<number> {
  const s = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data() {} } })
  const port = s.port
  s.stop(true)
  return port
}

// ---------------------------------------------------------------- report

interface Result {
  mode: string
  scenario: string
  ok: boolean
  details: string[]
}
const results: Result[] = []

function report(mode: string, scenario: string, ok: boolean, details: string[]): void {
  results.push({ mode, scenario, ok, details })
  console.log(`${ok ? 'PASS' : 'FAIL'}  [${mode}] ${scenario}`)
  for (const d of details) console.log(`        ${d}`)
}

class ScenarioFailure extends Error {
  constructor(
    readonly details: string[],
    /** HotM never connected: the later scenarios cannot run. */
    readonly fatal = false,
  ) {
    super(details.join('; '))
  }
}

// ---------------------------------------------------------------- helpers

async function waitFor<T>(check: () => Promise<T | undefined | false | null> | T | undefined | false | null, what: string, timeoutMs: number, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let lastError: unknown
  for (;;) {
    try {
      const v = await check()
      if (v) return v as T
    } catch (e) {
      lastError = e
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? ` (${String(lastError)})` : ''}`)
    await Bun.sleep(everyMs)
  }
}

interface Mode {
  name: string
  auth: 'off' | 'required'
  /** Memory HotM selects (localStorage hotm_active_memory); null = none (the server's default memory). */
  memory: string | null
  /** Tenant bound with setActiveTenantId; null = none. */
  tenant: string | null
}

const MODES: Mode[] = [
  { name: 'MATRIC_AUTH=off', auth: 'off', memory: null, tenant: null },
  { name: 'MATRIC_AUTH=required', auth: 'required', memory: 'hotm-e2e', tenant: TENANT },
]

/** Decides the inference double's answer from a marker in the note: two 503s then success, or a 400. */
function inferenceScript(): (req: RecordedRequest) => Reply {
  const calls = new Map<string, number>()
  return (req) => {
    const user = req.body.messages?.find((m) => m.role === 'user')?.content ?? ''
    const marker = /hotm-e2e-(retry|fail)-[0-9a-z]+/.exec(user)?.[0]
    if (!marker) return { content: `# Revised\n\n${user.trim()}` }
    const n = (calls.get(marker) ?? 0) + 1
    calls.set(marker, n)
    if (marker.includes('-fail-')) return { status: 400, body: { error: { message: 'model refuses this note' } } }
    return n <= 2 ? { status: 503 } : { content: `# Revised\n\n${user.trim()}` }
  }
}

class Run {
  server!: ServerProcess
  nginx!: RunningNginx
  context!: BrowserContext
  page!: Page
  token: string | null = null
  readonly dataDir = mkdtempSync(join(tmpdir(), 'e2e-hotm-data-'))
  readonly staticRoot = mkdtempSync(join(tmpdir(), 'e2e-hotm-www-'))
  port = 0
  consoleErrors: string[] = []
  /** Overrides for the next server start (a scenario that needs a short event log). */
  extraEnv: Record<string, string> = {}
  /** The memory events and counts are in (HotM's selection, or the server default). */
  readonly memory: string

  constructor(
    readonly mode: Mode,
    readonly browser: Browser,
    readonly inference: InferenceDouble,
    readonly checkout: string,
    readonly rules: RulesDocument,
  ) {
    this.memory = mode.memory ?? 'default'
  }

  env(): Record<string, string> {
    return {
      ...this.extraEnv,
      PORT: String(this.port),
      MATRIC_DATA_DIR: this.dataDir,
      MATRIC_JWT_SECRET: SECRET,
      MATRIC_AUTH: this.mode.auth,
      MATRIC_TENANT_ID: TENANT,
      MATRIC_INFERENCE_URL: this.inference.url,
      MATRIC_JOB_RETRY_BASE_MS: '300',
      MATRIC_QUEUE_STATUS_INTERVAL_MS: '250',
      MATRIC_WORKER_POLL_MS: '50',
      MATRIC_LOG_LEVEL: 'info',
    }
  }

  async start(): Promise<void> {
    this.port = await freePort()
    this.server = await spawnServer(this.env())
    if (this.mode.auth === 'required') {
      this.token = await signToken(new TextEncoder().encode(SECRET), { sub: 'hotm-e2e', scope: 'admin', memory: this.memory, tenant: TENANT, ttlS: 3600 })
    }
    this.nginx = await startNginx({ upstreamPort: this.port, staticRoot: this.staticRoot })
    const js = await buildHarness({ checkout: this.checkout, apiBaseUrl: `${this.nginx.url}/api/v1` })
    writeFileSync(join(this.staticRoot, 'hotm-harness.js'), js)
    writeFileSync(join(this.staticRoot, 'index.html'), HARNESS_HTML)
    this.context = await this.browser.newContext()
    this.page = await this.context.newPage()
    this.page.on('console', (m) => {
      if (m.type() === 'error') this.consoleErrors.push(m.text())
    })
    this.page.on('pageerror', (e) => this.consoleErrors.push(`page error: ${e.message}`))
    await this.page.addInitScript(
      ({ token, memory, tenant }) => {
        // HotM's own storage keys (ui/src/api/auth-context.ts, memory-context.ts).
        const w = globalThis as unknown as { localStorage: { setItem(k: string, v: string): void }; __HOTM_E2E__: unknown }
        if (token) w.localStorage.setItem('hotm_api_bearer_token', token)
        if (memory) w.localStorage.setItem('hotm_active_memory', memory)
        w.__HOTM_E2E__ = { tenant }
      },
      { token: this.token, memory: this.mode.memory, tenant: this.mode.tenant },
    )
    await this.page.goto(`${this.nginx.url}/`)
    await this.page.waitForFunction(() => '__hotm' in globalThis, undefined, { timeout: 10_000 })
  }

  async restartServer(): Promise<void> {
    await this.server.kill('SIGTERM')
    this.server = await spawnServer(this.env())
  }

  async stop(): Promise<void> {
    await this.context?.close().catch(() => {})
    await this.nginx?.stop().catch(() => {})
    if (this.server) await this.server.kill('SIGTERM').catch(() => 0)
    rmSync(this.dataDir, { recursive: true, force: true })
    rmSync(this.staticRoot, { recursive: true, force: true })
  }

  /** REST straight to the server, in the run's memory, with the run's token. */
  async api<T = Record<string, unknown>>(path: string, init: { method?: string; body?: unknown } = {}): Promise<{ status: number; body: T }> {
    const res = await fetch(`${this.server.url}${path}`, {
      method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
      headers: {
        'x-matric-memory': this.memory,
        ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
        ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
    })
    const text = await res.text()
    let body: unknown = text
    try {
      body = text ? JSON.parse(text) : null
    } catch {
      // not JSON
    }
    return { status: res.status, body: body as T }
  }

  async stats(): Promise<Counts & { completed: number; failed: number }> {
    const r = await this.api<Counts & { completed: number; failed: number }>('/api/v1/jobs/stats')
    if (r.status !== 200) throw new Error(`GET /api/v1/jobs/stats → ${r.status} ${JSON.stringify(r.body)}`)
    return r.body
  }

  snapshot(): Promise<Snapshot> {
    return this.page.evaluate(() => (globalThis as unknown as { __hotm: { snapshot(): Snapshot } }).__hotm.snapshot())
  }

  async createNote(content: string, extra: Record<string, unknown> = {}): Promise<{ id: string }> {
    const r = await this.api<{ id: string }>('/api/v1/notes', { body: { content, ...extra } })
    if (r.status !== 201) throw new Error(`POST /api/v1/notes → ${r.status} ${JSON.stringify(r.body)}`)
    return r.body
  }

  async quiescent(timeoutMs = 45_000): Promise<Counts> {
    return waitFor(
      async () => {
        const s = await this.stats()
        return s.pending === 0 && s.running === 0 ? s : undefined
      },
      'the job queue to drain',
      timeoutMs,
      200,
    )
  }

  /** Waits until the hook's counters equal GET /jobs/stats; returns both (equal or not) after the timeout. */
  async countersSettle(timeoutMs = 10_000): Promise<{ ok: boolean; hook: Counts | null; server: Counts }> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const [snap, server] = await Promise.all([this.snapshot(), this.stats()])
      const hook = snap.hook?.queueStatus ?? null
      if (sameCounts(hook, server)) return { ok: true, hook, server }
      if (Date.now() > deadline) return { ok: false, hook, server }
      await Bun.sleep(150)
    }
  }

  /** Where the current scenario's console messages start. */
  consoleMark = 0

  diagnostics(): string[] {
    return this.consoleErrors.slice(this.consoleMark).slice(-8).map((e) => `page console: ${e}`)
  }
}

function wireIds(snap: Snapshot, fromRequest = 0): { id: string; frame: WireFrame; request: number }[] {
  const out: { id: string; frame: WireFrame; request: number }[] = []
  snap.sse.forEach((r, i) => {
    if (i < fromRequest) return
    for (const f of r.frames) if (f.id !== undefined) out.push({ id: f.id, frame: f, request: i })
  })
  return out
}

function unknownReasons(snap: Snapshot, rules: RulesDocument): string[] {
  return snap.bus
    .filter((e) => e.type === 'Unknown')
    .slice(0, 10)
    .map((e) => {
      const raw = (e.raw_event ?? {}) as Record<string, unknown>
      const name = String(e.raw_event_type ?? raw.type ?? '?')
      const rule = ruleFor(rules, name)
      const why = rule ? ruleViolations(raw, rule, name === rule.eventType) : ['no HotM rule for this name']
      return `Unknown on the bus: ${name} (event_id ${String(e.event_id)}): ${why.join('; ') || 'no rule violation found (check the mapping)'}`
    })
}

/**
 * Whether HotM's bus emitted a QueueStatus once SSE request `i` had started. HotM coalesces QueueStatus (the
 * last within 50 ms wins, whichever transport brought it), so the stream's own frame may be superseded by a
 * later one; what matters to the UI is that its counters were set from fresh counts. Returns the problem.
 */
function queueStatusOnBus(snap: Snapshot, i: number): string | undefined {
  const req = snap.sse[i]
  if (!req) return `no SSE request ${i}`
  const frames = req.frames.filter((f) => f.event_type === 'queue.status')
  if (snap.bus.some((e) => e.type === 'QueueStatus' && e.at >= req.at)) return undefined
  const ids = new Set(frames.map((f) => f.event_id))
  const asOther = snap.bus.filter((e) => ids.has(e.event_id)).map((e) => e.type)
  if (asOther.length) return `queue.status reached the bus as ${asOther.join('/')}`
  const earlier = new Set(snap.sse.slice(0, i).flatMap((r) => r.frames.map((f) => f.event_id)))
  const reused = frames.filter((f) => earlier.has(f.event_id)).map((f) => f.event_id)
  return `no QueueStatus reached HotM's bus after the stream opened (${frames.length} queue.status frame(s) on it)${reused.length ? ` — HotM dropped ${reused.join(', ')} as duplicates: an earlier event had the same event_id` : ''}`
}

/** queueStatusOnBus, given HotM's coalescing delay (the bus emits a QueueStatus 50 ms after it arrives). */
async function queueStatusReaches(run: Run, i: number, timeoutMs = 3_000): Promise<string | undefined> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const why = queueStatusOnBus(await run.snapshot(), i)
    if (!why || Date.now() > deadline) return why
    await Bun.sleep(50)
  }
}

// ---------------------------------------------------------------- scenarios

async function scenarioConnect(run: Run): Promise<string[]> {
  const details: string[] = []
  let snap: Snapshot
  try {
    snap = await waitFor(
      async () => {
        const s = await run.snapshot()
        if (s.gate.state === 'blocked') return s
        return s.hook?.connectionState === 'connected' && s.sse.some((r) => r.status === 200) ? s : undefined
      },
      'HotM to report connected',
      20_000,
    )
  } catch (e) {
    const s = await run.snapshot()
    throw new ScenarioFailure([
      String(e),
      `connection states: ${s.connectionStates.join(' → ')}; gate ${s.gate.state}`,
      `SSE requests: ${JSON.stringify(s.sse.map((r) => ({ status: r.status, error: r.error, auth: r.authorization, memory: r.memoryHeader })))}`,
      ...run.diagnostics(),
    ], true)
  }
  if (snap.gate.state !== 'compatible') {
    const body = snap.compatibility.at(-1)
    throw new ScenarioFailure([
      `HotM's compatibility gate is ${snap.gate.state}: ${snap.gate.errorCode ?? ''} ${snap.gate.errorMessage ?? ''}`.trim(),
      `GET /api/v1/system/compatibility → ${body?.status ?? body?.error}: ${body?.body?.slice(0, 600) ?? ''}`,
    ], true)
  }
  details.push(`compatibility gate: compatible (GET /api/v1/system/compatibility → ${snap.compatibility.at(-1)?.status})`)
  const problems: string[] = []
  const first = snap.sse.find((r) => r.status === 200)!
  details.push(`SSE: GET ${new URL(first.url).pathname} → 200, Authorization ${first.authorization ? 'sent' : 'not sent'}, X-Fortemi-Memory ${first.memoryHeader ?? 'not sent'}`)
  if (first.authorization !== (run.mode.auth === 'required')) problems.push(`Authorization on SSE: expected ${run.mode.auth === 'required'}, got ${first.authorization}`)
  if ((first.memoryHeader ?? null) !== run.mode.memory) problems.push(`X-Fortemi-Memory on SSE: expected ${run.mode.memory}, got ${first.memoryHeader}`)
  if (snap.transport !== 'sse') problems.push(`transport: expected sse, got ${snap.transport}`)
  details.push(`hook: connected=${snap.hook?.connected}, state ${snap.connectionStates.join(' → ')}; service transport ${snap.transport} (hook's last render: ${snap.hook?.transportMode})`)

  // The stream's opening queue.status (no id: line) reaches the bus as QueueStatus.
  const opening = await waitFor(
    async () => {
      const s = await run.snapshot()
      const f = s.sse.find((r) => r.status === 200)?.frames.find((x) => x.event_type === 'queue.status')
      return f ? { f, s } : undefined
    },
    'the opening queue.status frame',
    5_000,
  ).catch(() => undefined)
  if (!opening) problems.push('no queue.status frame at the start of the stream')
  else {
    details.push(`opening frame: event ${opening.f.event}, ${opening.f.id === undefined ? 'no id: line' : `id: ${opening.f.id}`}, event_id ${opening.f.event_id}`)
    const why = await queueStatusReaches(run, opening.s.sse.findIndex((r) => r.status === 200))
    if (why) problems.push(why)
  }
  const counters = await run.countersSettle(5_000)
  details.push(`counters ${fmtCounts(counters.hook)} vs GET /jobs/stats ${fmtCounts(counters.server)}`)
  if (!counters.ok) problems.push('counters differ from GET /api/v1/jobs/stats')

  if (run.mode.auth === 'off' && run.mode.memory === null) {
    const ws = await waitFor(
      async () => (await run.snapshot()).ws.find((w) => w.received > 0),
      'the WebSocket command channel to answer refresh',
      8_000,
    ).catch(() => undefined)
    const s = await run.snapshot()
    if (!ws) problems.push(`WebSocket command channel: ${JSON.stringify(s.ws)} (expected open, 'refresh' sent and answered)`)
    else {
      details.push(`WebSocket command channel ${new URL(ws.url).pathname}: sent ${JSON.stringify(ws.sent)}, ${ws.received} frame(s) received`)
      if (!ws.sent.includes('refresh')) problems.push('HotM did not send refresh on the WebSocket')
      if (ws.closedCode !== undefined) problems.push(`WebSocket closed with ${ws.closedCode}`)
    }
  } else {
    const s = await run.snapshot()
    details.push(`WebSocket: ${s.ws.length ? `opened (${s.ws.map((w) => w.url).join(', ')})` : 'not opened (HotM admits the legacy WebSocket only without token, memory and tenant)'}`)
    if (s.ws.length) problems.push('HotM opened the legacy WebSocket in a scoped context')
  }
  if (problems.length) throw new ScenarioFailure([...details, ...problems])
  return details
}

interface BurstIds {
  retryJob: string
  failJob: string
  notes: string[]
}

async function scenarioBurst(run: Run): Promise<{ details: string[]; ids: BurstIds }> {
  const details: string[] = []
  const problems: string[] = []
  const tag = Math.random().toString(36).slice(2, 8)
  // Paused first, so the counters are compared while they are not all zero (the queue holds the burst).
  const pause = await run.api(`/api/v1/jobs/pause/${encodeURIComponent(run.memory)}`, { method: 'POST' })
  if (pause.status !== 200) throw new ScenarioFailure([`POST /api/v1/jobs/pause/${run.memory} → ${pause.status} ${JSON.stringify(pause.body)}`])
  const notes: string[] = []
  for (let i = 0; i < 5; i++) notes.push((await run.createNote(`Burst note ${i} ${tag}\n\nSome words about realtime ${i} and events.`)).id)
  const retryNote = await run.createNote(`# Retry note\n\nhotm-e2e-retry-${tag} should be revised after two 503s.`)
  const failNote = await run.createNote(`# Fail note\n\nhotm-e2e-fail-${tag} is refused by the model.`)
  const retry = await run.api<{ id: string }>('/api/v1/jobs', { body: { job_type: 'ai_revision', note_id: retryNote.id } })
  const fail = await run.api<{ id: string }>('/api/v1/jobs', { body: { job_type: 'ai_revision', note_id: failNote.id } })
  if (retry.status !== 201 || fail.status !== 201) throw new ScenarioFailure([`POST /api/v1/jobs → ${retry.status}/${fail.status}: ${JSON.stringify(retry.body)}`])
  details.push(`memory ${run.memory} paused; 7 notes (pipeline jobs each) + ai_revision ${retry.body.id} (2×503 then 200) + ai_revision ${fail.body.id} (400)`)
  const held = await run.countersSettle(10_000)
  details.push(`while paused: HotM counters ${fmtCounts(held.hook)} vs GET /jobs/stats ${fmtCounts(held.server)}`)
  if (!held.ok) problems.push('HotM counters differ from GET /api/v1/jobs/stats while the burst is queued')
  if (!held.server.pending) problems.push('nothing was pending while paused (the pause did not hold the queue)')
  const resume = await run.api(`/api/v1/jobs/resume/${encodeURIComponent(run.memory)}`, { method: 'POST' })
  if (resume.status !== 200) throw new ScenarioFailure([...details, `POST /api/v1/jobs/resume/${run.memory} → ${resume.status} ${JSON.stringify(resume.body)}`])
  await run.quiescent()
  const rj = (await run.api<{ status: string; retry_count: number }>(`/api/v1/jobs/${retry.body.id}`)).body
  const fj = (await run.api<{ status: string; error: string }>(`/api/v1/jobs/${fail.body.id}`)).body
  details.push(`server: retried job ${rj.status} after ${rj.retry_count} retries; failing job ${fj.status} (${fj.error})`)
  if (rj.status !== 'completed' || rj.retry_count !== 2) problems.push(`retried job: expected completed after 2 retries, got ${rj.status}/${rj.retry_count}`)
  if (fj.status !== 'failed') problems.push(`failing job: expected failed, got ${fj.status}`)
  const counters = await run.countersSettle(10_000)
  details.push(`after the burst: HotM counters ${fmtCounts(counters.hook)} vs GET /jobs/stats ${fmtCounts(counters.server)}`)
  if (!counters.ok) problems.push('HotM counters differ from GET /api/v1/jobs/stats after the burst')
  const snap = await run.snapshot()
  const failed = snap.bus.filter((e) => e.type === 'JobFailed' && e.job_id === fail.body.id)
  const retriedFailed = snap.bus.filter((e) => e.type === 'JobFailed' && e.job_id === retry.body.id)
  const completed = snap.bus.filter((e) => e.type === 'JobCompleted' && e.job_id === retry.body.id)
  details.push(`bus: JobFailed for the failing job ×${failed.length} (error ${JSON.stringify(failed[0]?.error)}), JobCompleted for the retried job ×${completed.length}, JobFailed for it ×${retriedFailed.length}`)
  if (failed.length !== 1 || typeof failed[0]?.error !== 'string' || !failed[0].error) problems.push('expected exactly one JobFailed with an error for the failing job')
  if (completed.length !== 1) problems.push('expected exactly one JobCompleted for the retried job')
  if (retriedFailed.length) problems.push('a retry produced a JobFailed (retries must not send job events)')
  if (problems.length) throw new ScenarioFailure([...details, ...problems, ...unknownReasons(snap, run.rules)])
  return { details, ids: { retryJob: retry.body.id, failJob: fail.body.id, notes } }
}

async function scenarioEventTypes(run: Run, ids: BurstIds): Promise<string[]> {
  const details: string[] = []
  const problems: string[] = []
  const target = ids.notes[0]!
  const patch = await run.api(`/api/v1/notes/${target}`, { method: 'PATCH', body: { title: 'Renamed by the HotM e2e run' } })
  if (patch.status !== 200) problems.push(`PATCH /api/v1/notes/{id} → ${patch.status}`)
  const del = await run.api(`/api/v1/notes/${ids.notes[1]}`, { method: 'DELETE' })
  if (del.status !== 204 && del.status !== 200) problems.push(`DELETE /api/v1/notes/{id} → ${del.status}`)
  details.push(`PATCH note → ${patch.status}, DELETE note → ${del.status}`)
  // Pause and resume through HotM's own jobs API (ui/src/api/jobs.ts): the archive form for a selected memory.
  const archive = run.mode.memory
  const jobs = <K extends 'pause' | 'resume' | 'status'>(k: K, a: string | null) =>
    run.page.evaluate(([k, a]) => (globalThis as unknown as { __hotm: { jobs: JobsActions } }).__hotm.jobs[k as K](a), [k, a] as const)
  const pause = await jobs('pause', archive)
  const paused = await jobs('status', null)
  const resume = await jobs('resume', archive)
  const resumed = await jobs('status', null)
  details.push(`HotM jobs API: ${archive ? `pauseArchive(${archive})` : 'pauseGlobal()'} → ${JSON.stringify(pause.value ?? pause.error)}; getPauseStatus() → ${JSON.stringify(paused.value ?? paused.error)}`)
  details.push(`HotM jobs API: ${archive ? `resumeArchive(${archive})` : 'resumeGlobal()'} → ${JSON.stringify(resume.value ?? resume.error)}; getPauseStatus() → ${JSON.stringify(resumed.value ?? resumed.error)}`)
  for (const [what, r] of [['pause', pause], ['resume', resume], ['status', paused]] as const) if (!r.ok) problems.push(`HotM's jobs API ${what} failed: ${r.error}`)
  const ps = paused.value as { global?: unknown; archives?: Record<string, unknown> } | undefined
  const pausedSeen = archive ? ps?.archives?.[archive] === 'paused' : ps?.global === 'paused'
  if (paused.ok && !pausedSeen) problems.push(`getPauseStatus() after the pause does not show ${archive ? `archives[${archive}] = "paused"` : 'global = "paused"'}`)

  const wanted = Object.keys(EMITTED)
  const snap = await waitFor(
    async () => {
      const s = await run.snapshot()
      return wanted.every((t) => s.bus.some((e) => e.raw_event_type === t && e.type === EMITTED[t])) ? s : undefined
    },
    'every event type on the bus',
    15_000,
  ).catch(async () => run.snapshot())

  for (const t of wanted) {
    const seen = snap.bus.filter((e) => e.raw_event_type === t)
    const good = seen.filter((e) => e.type === EMITTED[t])
    const rule = ruleFor(run.rules, t)
    const violations = new Set<string>()
    const scoping = new Set<string>()
    for (const e of seen) {
      const raw = (e.raw_event ?? {}) as Record<string, unknown>
      if (rule) for (const v of ruleViolations(raw, rule, true)) violations.add(v)
      if (t !== 'queue.status') {
        if (raw.tenant_id !== TENANT) scoping.add(`tenant_id ${JSON.stringify(raw.tenant_id)} (expected ${TENANT})`)
        if (raw.memory !== run.memory) scoping.add(`memory ${JSON.stringify(raw.memory)} (expected ${run.memory})`)
      }
    }
    const fields = good[0] ? fieldSummary(t, good[0]) : ''
    const ok = good.length > 0 && good.length === seen.length && violations.size === 0 && scoping.size === 0
    details.push(`${ok ? 'ok  ' : 'BAD '} ${t} → ${EMITTED[t]} ×${good.length}${seen.length > good.length ? ` (+${seen.length - good.length} as ${[...new Set(seen.filter((e) => e.type !== EMITTED[t]).map((e) => e.type))].join('/')})` : ''}${fields ? `  ${fields}` : ''}`)
    if (!seen.length) problems.push(`${t}: never reached HotM's bus`)
    for (const v of violations) problems.push(`${t}: ${v}`)
    for (const s of scoping) problems.push(`${t}: ${s}`)
  }
  // Every non-coalesced event on the wire must reach the bus (nothing filtered by memory/tenant or rejected).
  const onBus = new Set(snap.bus.map((e) => e.event_id))
  const lost = wireIds(snap).filter(({ frame }) => frame.event_type && EMITTED[frame.event_type] && !COALESCED.has(EMITTED[frame.event_type]!) && !onBus.has(frame.event_id))
  if (lost.length) {
    problems.push(`${lost.length} event(s) on the wire never reached the bus, e.g. ${lost.slice(0, 3).map((l) => `${l.frame.event_type} ${l.id}: ${l.frame.data?.slice(0, 200)}`).join(' | ')}`)
  }
  const unknown = unknownReasons(snap, run.rules)
  problems.push(...unknown)
  if (problems.length) throw new ScenarioFailure([...details, ...problems])
  return details
}

/** The fields of one bus event that HotM's UI reads, for the report. */
function fieldSummary(t: string, e: BusEvent): string {
  const pick: Record<string, string[]> = {
    'queue.status': ['total_jobs', 'running', 'pending'],
    'job.queued': ['job_id', 'job_type', 'note_id'],
    'job.started': ['job_id', 'job_type', 'note_id'],
    'job.progress': ['job_id', 'progress_percent', 'message'],
    'job.completed': ['job_id', 'job_type', 'duration_ms'],
    'job.failed': ['job_id', 'job_type', 'error'],
    'note.created': ['note_id', 'tags'],
    'note.updated': ['note_id', 'title', 'has_ai_content', 'has_links'],
    'note.deleted': ['note_id'],
    'jobs.paused': ['scope'],
    'jobs.resumed': ['scope'],
  }
  const ids = ['correlation_id', 'causation_id'].filter((k) => typeof e[k] === 'string').map((k) => `${k}=${String(e[k]).slice(0, 13)}…`)
  return [...(pick[t] ?? []).map((k) => `${k}=${JSON.stringify(e[k])}`), ...ids].join(' ')
}

async function scenarioRestart(run: Run): Promise<string[]> {
  const details: string[] = []
  const problems: string[] = []
  const before = await run.snapshot()
  const requestsBefore = before.sse.length
  const firstWire = wireIds(before)[0]
  if (!firstWire) throw new ScenarioFailure(['the page has received no event with an id yet'])

  // Hold HotM's reconnects back while the server restarts and new events are written, so they must come
  // from replay (as for a client whose network is down for those seconds).
  await run.page.route('**/api/v1/events**', (route) => route.abort('connectionrefused'))
  await run.restartServer()
  await waitFor(async () => (await run.snapshot()).sse[requestsBefore - 1]?.ended, 'the open stream to end with the server', 10_000)
  const cursorAtStop = (await run.snapshot()).replayCursor
  const tag = Math.random().toString(36).slice(2, 8)
  const whileAway = [await run.createNote(`While away A ${tag}`), await run.createNote(`While away B ${tag}`)]
  await Bun.sleep(300)
  await run.page.unroute('**/api/v1/events**')
  const reconnect = await waitFor(
    async () => {
      const s = await run.snapshot()
      const i = s.sse.findIndex((r, k) => k >= requestsBefore && r.status === 200)
      return i >= 0 ? { i, req: s.sse[i]! } : undefined
    },
    'HotM to reconnect after the restart',
    30_000,
    200,
  )
  details.push(`server restarted (SIGTERM, same data dir and port); HotM reconnected after ${reconnect.i - requestsBefore} refused attempt(s) with Last-Event-ID ${reconnect.req.lastEventId} (its cursor at the stop: ${cursorAtStop})`)
  if (!reconnect.req.lastEventId) problems.push('HotM reconnected without Last-Event-ID')
  const live = [await run.createNote(`After reconnect C ${tag}`), await run.createNote(`After reconnect D ${tag}`)]
  await run.quiescent()
  const lastNote = live[1]!.id
  await waitFor(
    async () => (await run.snapshot()).bus.some((e) => e.type === 'NoteCreated' && e.note_id === lastNote),
    'the last live note.created on the bus',
    10_000,
  ).catch(() => problems.push('the note created after the reconnect never reached the bus'))
  const counters = await run.countersSettle(10_000)
  details.push(`after the restart: HotM counters ${fmtCounts(counters.hook)} vs GET /jobs/stats ${fmtCounts(counters.server)}`)
  if (!counters.ok) problems.push('HotM counters differ from GET /api/v1/jobs/stats after the restart')

  // Replay delivered what was written while HotM was away.
  const snap = await run.snapshot()
  const replayed = snap.sse[reconnect.i]!.frames.filter((f) => f.event_type === 'note.created' && whileAway.some((n) => f.data?.includes(n.id)))
  details.push(`replay on reconnect: ${replayed.length}/2 notes created while HotM was away arrived on the resumed stream`)
  if (replayed.length !== 2) problems.push('the resumed stream did not replay the events written while HotM was away')
  const opening = snap.sse[reconnect.i]!.frames.find((f) => f.event_type === 'queue.status' && f.id === undefined)
  if (!opening) problems.push('the resumed stream has no opening queue.status frame')
  else {
    const why = await queueStatusReaches(run, reconnect.i)
    if (why) problems.push(`resumed stream: ${why}`)
  }

  // No gap, no duplicate, same order: the page's wire ids vs the server's log read independently.
  const truth = await readLog(run, firstWire.id)
  const seen = wireIds(snap).map((w) => w.id)
  const seenAfterFirst = seen.slice(seen.indexOf(firstWire.id) + 1)
  const d = diffSequence(truth, seenAfterFirst)
  details.push(`wire vs server log after ${firstWire.id}: ${truth.length} event(s) in the log, ${seenAfterFirst.length} received by HotM; missing ${d.missing.length}, duplicated ${d.duplicates.length}, unexpected ${d.unexpected.length}${d.reordered ? ', REORDERED' : ''}`)
  if (!isCleanDiff(d)) problems.push(`gap/duplicate: missing ${d.missing.slice(0, 5).join(',')} duplicated ${d.duplicates.slice(0, 5).join(',')} unexpected ${d.unexpected.slice(0, 5).join(',')}`)
  const busIds = new Set(snap.bus.map((e) => e.event_id))
  const notOnBus = wireIds(snap, reconnect.i).filter(({ frame }) => frame.event_type && EMITTED[frame.event_type] && !COALESCED.has(EMITTED[frame.event_type]!) && !busIds.has(frame.event_id))
  if (notOnBus.length) problems.push(`${notOnBus.length} replayed/live event(s) did not reach the bus, e.g. ${notOnBus.slice(0, 3).map((x) => `${x.frame.event_type} ${x.id}`).join(', ')}`)
  problems.push(...unknownReasons(snap, run.rules))
  if (problems.length) throw new ScenarioFailure([...details, ...problems])
  return details
}

async function scenarioExternal(run: Run): Promise<string[]> {
  const details: string[] = []
  const problems: string[] = []
  // Publishing needs an admin of every memory; in the anonymous profile the request needs no token at all.
  const token = run.mode.auth === 'required' ? await signToken(new TextEncoder().encode(SECRET), { sub: 'publisher', scope: 'admin', memory: '*', tenant: TENANT, ttlS: 600 }) : null
  const publish = async (payload: Record<string, unknown>) => {
    const res = await fetch(`${run.server.url}/api/v1/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify({ memory: run.memory, payload }),
    })
    const body = (await res.json().catch(() => ({}))) as { event_id?: string }
    return { status: res.status, eventId: body.event_id, body }
  }
  const job = crypto.randomUUID()
  // Upstream Fortemi shapes: JobProgress with `progress` only and no job_type; JobsPaused/JobsResumed {scope}.
  const sent: [string, Record<string, unknown>][] = [
    ['JobQueued', { type: 'JobQueued', job_id: job, job_type: 'Import' }],
    ['JobStarted', { type: 'JobStarted', job_id: job, job_type: 'Import' }],
    ['JobProgress', { type: 'JobProgress', job_id: job, progress: 40 }],
    ['JobCompleted', { type: 'JobCompleted', job_id: job, job_type: 'Import', duration_ms: 12 }],
    ['JobsPaused', { type: 'JobsPaused', scope: 'archive' }],
    ['JobsResumed', { type: 'JobsResumed', scope: 'archive' }],
    // A job the server does not run and that never finishes here: HotM applies +1 pending; the server's
    // counts (GET /jobs/stats) do not include it, so only a QueueStatus correction can set HotM right.
    ['JobQueued', { type: 'JobQueued', job_id: crypto.randomUUID(), job_type: 'Import' }],
  ]
  const ids: [string, string][] = []
  for (const [name, payload] of sent) {
    const r = await publish(payload)
    if (r.status !== 202 || !r.eventId) problems.push(`POST /api/v1/events ${name} → ${r.status} ${JSON.stringify(r.body)}`)
    else ids.push([name, r.eventId])
    // JobProgress is coalesced per job within 50 ms: keep the events apart so each one reaches the bus.
    await Bun.sleep(80)
  }
  details.push(`published (upstream shapes) ${sent.map(([n]) => n).join(', ')} (the first four for job ${job}, the last JobQueued for a job that never runs): ${ids.length}/${sent.length} accepted`)
  const snap = await waitFor(
    async () => {
      const s = await run.snapshot()
      return ids.every(([, id]) => s.bus.some((e) => e.event_id === id)) ? s : undefined
    },
    'the published events on the bus',
    10_000,
  ).catch(async () => run.snapshot())
  for (const [name, id] of ids) {
    const e = snap.bus.find((x) => x.event_id === id)
    if (!e) problems.push(`${name} ${id} never reached HotM's bus`)
    else if (e.type !== name) problems.push(`${name} ${id} reached the bus as ${e.type}`)
  }
  const progress = snap.bus.find((e) => e.event_id === ids.find(([n]) => n === 'JobProgress')?.[1])
  if (progress) details.push(`JobProgress on the bus: progress_percent=${JSON.stringify(progress.progress_percent)} job_type=${JSON.stringify(progress.job_type)}`)
  if (progress && progress.progress_percent !== 40) problems.push('the published JobProgress did not arrive with progress 40')
  const counters = await run.countersSettle(10_000)
  details.push(`after the external job events: HotM counters ${fmtCounts(counters.hook)} vs GET /jobs/stats ${fmtCounts(counters.server)}`)
  if (!counters.ok) problems.push('HotM counters differ from GET /api/v1/jobs/stats after externally published job events')

  // Probe, reported but not judged: an external id that is not a UUID.
  const probe = await publish({ type: 'JobQueued', job_id: 'ext-42', job_type: 'Import' })
  if (probe.eventId) {
    const seen = await waitFor(
      async () => (await run.snapshot()).bus.find((e) => e.event_id === probe.eventId),
      'the probe on the bus',
      5_000,
    ).catch(() => undefined)
    details.push(`probe (not judged): JobQueued with job_id "ext-42" → ${probe.status}; on HotM's bus as ${seen?.type ?? 'nothing'}${seen?.type === 'Unknown' ? ' (HotM requires UUID job ids; the UI ignores it)' : ''}`)
  } else details.push(`probe (not judged): JobQueued with job_id "ext-42" → ${probe.status} ${JSON.stringify(probe.body)}`)
  if (problems.length) throw new ScenarioFailure([...details, ...problems, ...unknownReasons(snap, run.rules)])
  return details
}

async function scenarioResync(run: Run): Promise<string[]> {
  const details: string[] = []
  const problems: string[] = []
  // HotM away while the log moves on past its cursor: restart with a 100-event log, write 600 events (the log
  // prunes every 500 appends), then let HotM back in with its old Last-Event-ID.
  await run.page.route('**/api/v1/events**', (route) => route.abort('connectionrefused'))
  run.extraEnv = { MATRIC_EVENT_RETENTION_COUNT: '100' }
  const before = (await run.snapshot()).sse.length
  await run.restartServer()
  const token = run.mode.auth === 'required' ? await signToken(new TextEncoder().encode(SECRET), { sub: 'publisher', scope: 'admin', memory: '*', tenant: TENANT, ttlS: 600 }) : null
  const job = crypto.randomUUID()
  let accepted = 0
  for (let i = 0; i < 600; i++) {
    const res = await fetch(`${run.server.url}/api/v1/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify({ memory: run.memory, payload: { type: 'JobProgress', job_id: job, progress: i % 101 } }),
    })
    await res.body?.cancel()
    if (res.status === 202) accepted++
  }
  const cursor = (await run.snapshot()).replayCursor
  await run.page.unroute('**/api/v1/events**')
  details.push(`server restarted with MATRIC_EVENT_RETENTION_COUNT=100; ${accepted}/600 events published while HotM was away (its cursor ${cursor})`)
  const reconnect = await waitFor(
    async () => {
      const s = await run.snapshot()
      const i = s.sse.findIndex((r, k) => k >= before && r.status === 200)
      return i >= 0 ? { i, s } : undefined
    },
    'HotM to reconnect',
    30_000,
    200,
  )
  const req = reconnect.s.sse[reconnect.i]!
  const frame = await waitFor(
    async () => (await run.snapshot()).sse[reconnect.i]?.frames.find((f) => f.event === 'resync_required'),
    'a resync_required frame',
    5_000,
  ).catch(() => undefined)
  details.push(`HotM resumed with Last-Event-ID ${req.lastEventId}; resumed stream: ${frame ? `resync_required ${frame.data}` : 'no resync_required frame'}`)
  if (!frame) problems.push('the server did not answer the expired cursor with resync_required')
  const onBus = await waitFor(
    async () => {
      const s = await run.snapshot()
      return s.bus.find((e) => e.raw_event_type === 'resync_required' && e.at >= req.at)
    },
    'ResyncRequired on the bus',
    5_000,
  ).catch(() => undefined)
  const hook = (await run.snapshot()).hook
  details.push(`bus: ${onBus ? `resync_required → ${onBus.type}` : 'no resync_required'}; hook lastResyncAt ${hook?.lastResyncAt ? 'set' : 'not set'}`)
  if (!onBus) problems.push('resync_required did not reach HotM\'s bus')
  else if (onBus.type !== 'ResyncRequired') problems.push(`resync_required reached the bus as ${onBus.type}`)
  if (!hook?.lastResyncAt) problems.push('HotM did not register the resync (useWebSocket lastResyncAt unset)')
  const why = await queueStatusReaches(run, reconnect.i)
  if (why) problems.push(`resumed stream: ${why}`)
  const counters = await run.countersSettle(10_000)
  details.push(`after the resync: HotM counters ${fmtCounts(counters.hook)} vs GET /jobs/stats ${fmtCounts(counters.server)}`)
  if (!counters.ok) problems.push('HotM counters differ from GET /api/v1/jobs/stats after the resync')
  if (problems.length) throw new ScenarioFailure([...details, ...problems])
  return details
}

/** The server's own log after `afterId`, read with a fresh SSE stream in the run's scope, until it is quiet. */
async function readLog(run: Run, afterId: string): Promise<string[]> {
  const client = await SseClient.open(`${run.server.url}/api/v1/events`, {
    headers: {
      'last-event-id': afterId,
      'x-fortemi-memory': run.memory,
      ...(run.token ? { authorization: `Bearer ${run.token}` } : {}),
    },
  })
  if (client.status !== 200) throw new ScenarioFailure([`reading the server log: GET /api/v1/events → ${client.status}`])
  let count = -1
  let stableSince = Date.now()
  const deadline = Date.now() + 15_000
  while (Date.now() < deadline) {
    const n = client.events.length
    if (n !== count) {
      count = n
      stableSince = Date.now()
    } else if (Date.now() - stableSince > 1500) break
    await Bun.sleep(100)
  }
  client.close()
  return client.events.map((f: SseFrame) => f.id!)
}

async function scenarioAuth(run: Run): Promise<string[]> {
  const details: string[] = []
  const problems: string[] = []
  const snap = await run.snapshot()
  const compat = JSON.parse(snap.compatibility.find((c) => c.status === 200)?.body ?? '{}') as { auth?: Record<string, unknown>; api?: Record<string, unknown> }
  details.push(`compatibility: api.version ${JSON.stringify(compat.api?.version)}, minimum_hotm_enterprise_client ${JSON.stringify(compat.api?.minimum_hotm_enterprise_client)}, auth ${JSON.stringify(compat.auth)}`)
  const unauth = await fetch(`${run.nginx.url}/api/v1/events`, { headers: { accept: 'text/event-stream' } })
  await unauth.body?.cancel()
  if (run.mode.auth === 'required') {
    if (compat.auth?.required !== true) problems.push('auth.required should be true')
    if (unauth.status !== 401) problems.push(`SSE without a token through nginx → ${unauth.status}, expected 401`)
    details.push(`SSE without a token → ${unauth.status}; HotM's SSE carried the bearer token: ${snap.sse.every((r) => r.authorization)}; tenant bound: ${snap.context.tenant}`)
    if (!snap.sse.every((r) => r.authorization)) problems.push('an SSE request of HotM went without Authorization')
  } else {
    if (compat.auth?.required !== false || compat.auth?.mode !== 'anonymous_local') problems.push('auth should be {required: false, mode: anonymous_local}')
    if (unauth.status !== 200) problems.push(`SSE without a token through nginx → ${unauth.status}, expected 200`)
    details.push(`SSE without a token → ${unauth.status}`)
  }
  if (problems.length) throw new ScenarioFailure([...details, ...problems])
  return details
}

// ---------------------------------------------------------------- main

async function runMode(mode: Mode, browser: Browser, inference: InferenceDouble, checkout: string, rules: RulesDocument): Promise<void> {
  console.log(`\n== ${mode.name} — HotM memory ${mode.memory ?? '(none)'}, tenant ${mode.tenant ?? '(none)'}, token ${mode.auth === 'required' ? `admin of ${mode.memory}, tenant claim ${TENANT}` : 'none'} ==`)
  const run = new Run(mode, browser, inference, checkout, rules)
  const steps: [string, () => Promise<string[]>][] = []
  let ids: BurstIds | undefined
  steps.push(['connects (compatibility gate, SSE, opening queue.status, counters)', () => scenarioConnect(run)])
  steps.push(['auth profile as HotM sees it', () => scenarioAuth(run)])
  steps.push([
    'burst of jobs with retries and one permanent failure: counters equal GET /jobs/stats (queued and drained)',
    async () => {
      const r = await scenarioBurst(run)
      ids = r.ids
      return r.details
    },
  ])
  steps.push([
    'every event type reaches the bus with the fields HotM reads (never Unknown)',
    () => (ids ? scenarioEventTypes(run, ids) : Promise.reject(new ScenarioFailure(['needs the burst scenario']))),
  ])
  steps.push(['server restart: replay without gaps or duplicates', () => scenarioRestart(run)])
  steps.push(['external publisher (POST /api/v1/events, upstream shapes) reaches HotM; counters stay right', () => scenarioExternal(run)])
  steps.push(['away past the replay window: resync_required reaches HotM, counters recover', () => scenarioResync(run)])
  try {
    await run.start()
  } catch (e) {
    report(mode.name, 'setup (server, nginx, bundle, page)', false, [String(e), ...run.diagnostics()])
    await run.stop()
    return
  }
  let blocked = false
  for (const [name, fn] of steps) {
    if (blocked) {
      report(mode.name, name, false, ['not run: HotM did not connect'])
      continue
    }
    run.consoleMark = run.consoleErrors.length
    try {
      report(mode.name, name, true, await fn())
    } catch (e) {
      const details = e instanceof ScenarioFailure ? e.details : [String(e instanceof Error ? (e.stack ?? e.message) : e)]
      report(mode.name, name, false, [...details, ...run.diagnostics()])
      if (e instanceof ScenarioFailure && e.fatal) blocked = true
    }
  }
  await run.stop()
}

async function main(): Promise<number> {
  const arg = process.argv[2]
  if (!arg || arg === '--help' || arg === '-h') {
    console.error('usage: npm run e2e:hotm -- <path to a HotM checkout (the directory holding ui/src)>')
    return 2
  }
  const checkout = resolve(arg)
  const missing = missingHotmFiles(checkout)
  if (missing.length) {
    console.error(`${checkout} is not a usable HotM checkout; missing: ${missing.join(', ')}`)
    return 2
  }
  const pkg = JSON.parse(readFileSync(join(checkout, 'ui', 'package.json'), 'utf8')) as { version?: string }
  console.log(`HotM checkout: ${checkout} (ui/package.json version ${pkg.version})`)
  const commits = join(checkout, 'COMMITS.txt')
  if (existsSync(commits)) {
    for (const line of readFileSync(commits, 'utf8').split('\n')) if (line.trim() && !line.startsWith('#')) console.log(`  ${line.split('\t').slice(0, 2).join('  @ ')}`)
  }
  const rules = JSON.parse(readFileSync(join(checkout, 'ui/src/api/contracts/fortemi-asyncapi-event-validation-rules.json'), 'utf8')) as RulesDocument
  // Fail fast on a checkout the bundler cannot handle, before starting anything.
  await buildHarness({ checkout, apiBaseUrl: 'http://127.0.0.1:1/api/v1' })

  const inference = await startInference()
  inference.setDefault(inferenceScript())
  const browser = await launchBrowser()
  const cleanup = async () => {
    await browser.close().catch(() => {})
    await inference.stop().catch(() => {})
  }
  process.on('SIGINT', () => void cleanup().then(() => process.exit(130)))
  try {
    const only = process.env.E2E_HOTM_MODE // 'off' | 'required': run one profile (iterating on the harness)
    for (const mode of MODES.filter((m) => !only || m.auth === only)) await runMode(mode, browser, inference, checkout, rules)
  } finally {
    await cleanup()
  }
  const passed = results.filter((r) => r.ok).length
  const failed = results.length - passed
  console.log(`\nHotM e2e: ${passed} passed, ${failed} failed`)
  return failed ? 1 : 0
}

process.exit(await main())
