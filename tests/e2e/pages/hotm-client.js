// A browser client that talks to matric-realtime the way the HotM web UI does, written for the
// end-to-end tests (tests/e2e/*.test.ts read `window.__hotm` with page.evaluate).
//
// Two behaviours, chosen with ?mode=:
//   newest (default) — today's HotM (2026.7.x): GET /api/v1/system/compatibility first and open nothing
//     unless it is accepted; then SSE over fetch (Accept: text/event-stream, Authorization,
//     X-Fortemi-Memory, Last-Event-ID on reconnect = the last event_id seen in a frame's data, the
//     synthetic queue.status included), the envelope unwrapped (type = event_type), events outside the
//     active memory/tenant dropped, HotM's schema check (a non-conforming event becomes Unknown and moves
//     nothing), de-duplication by event_id, QueueStatus/JobProgress coalesced over 50 ms; the WebSocket only
//     as the `refresh` command channel (its frames handled only while SSE is down), in anonymous local mode.
//     (HotM's web build always takes the fetch path, never native EventSource: no `types` filter, headers.)
//   seed — the seed-era HotM: the WebSocket only, `refresh` on open, the seven bare payload types.
// Both keep HotM's queue counters (QueueStatus sets them; JobQueued pending+1 total+1; JobStarted
// pending-1 running+1; JobCompleted/JobFailed running-1 total-1, never below 0).
//
// Query: mode (newest | seed | none = open nothing), token (bearer), memory (X-Fortemi-Memory and the memory filter), tenant (tenant filter).

const params = new URLSearchParams(location.search)
const MODE = ['seed', 'none'].includes(params.get('mode')) ? params.get('mode') : 'newest'
const TOKEN = params.get('token') || null
const MEMORY = params.get('memory') || null
const TENANT = params.get('tenant') || null
const API_BASE = `${location.origin}/api/v1`

const ACCEPTED_CONTRACT_REVISIONS = ['2026-07-06']
const API_VERSION_MIN = [2026, 7, 0] // inclusive
const API_VERSION_MAX = [2027, 0, 0] // exclusive
// The HotM build this page stands in for (its compatibility receipt names client 2026.7.1): a server asking
// for a newer minimum client is refused.
const CLIENT_VERSION = [2026, 7, 1]
const DEDUP_TTL_MS = 60_000
const COALESCE_WINDOW_MS = 50
const COALESCE_TYPES = new Set(['QueueStatus', 'JobProgress'])

// Envelope event names → the HotM handler type (only what this server can emit, plus the synthetic ones).
const NAMESPACED = {
  'queue.status': 'QueueStatus',
  'job.queued': 'JobQueued',
  'job.started': 'JobStarted',
  'job.progress': 'JobProgress',
  'job.completed': 'JobCompleted',
  'job.failed': 'JobFailed',
  'jobs.paused': 'JobsPaused',
  'jobs.resumed': 'JobsResumed',
  'note.created': 'NoteCreated',
  'note.updated': 'NoteUpdated',
  'note.deleted': 'NoteDeleted',
  resync_required: 'ResyncRequired',
  'events.lagged': 'EventsLagged',
}
const LEGACY = new Set(['QueueStatus', 'JobQueued', 'JobStarted', 'JobProgress', 'JobCompleted', 'JobFailed', 'JobsPaused', 'JobsResumed', 'NoteUpdated', 'NoteCreated', 'NoteDeleted', 'ResyncRequired', 'EventsLagged'])
const SEED_TYPES = new Set(['QueueStatus', 'JobQueued', 'JobStarted', 'JobProgress', 'JobCompleted', 'JobFailed', 'NoteUpdated'])
const SYSTEM_TYPES = new Set(['resync_required', 'events.lagged', 'queue.status', 'ResyncRequired', 'EventsLagged', 'QueueStatus'])

const state = {
  mode: MODE,
  /** starting → streaming, or incompatible / failed (nothing opened). */
  phase: 'starting',
  compatibility: null,
  compatibilityProblems: [],
  queueStatus: { total_jobs: 0, running: 0, pending: 0 },
  /** Every frame as it arrived: {transport, id (the SSE id: line or null), event (the event: line), data, at}. */
  frames: [],
  /** What HotM's handlers see, in order: unwrapped, filtered, de-duplicated, coalesced. */
  handled: [],
  dropped: { context: 0, duplicate: 0, coalesced: 0, unparsable: 0 },
  sse: { status: 'idle', connected: false, lastEventId: null, connects: [], failures: [] },
  ws: { url: null, opens: 0, closes: [], sent: [] },
  /** Coalesced events waiting for their 50 ms window. */
  pendingCoalesced: 0,
}
window.__hotm = state

function render() {
  document.getElementById('phase').textContent = state.phase
  const q = state.queueStatus
  document.getElementById('queue').textContent = `${q.total_jobs} / ${q.running} / ${q.pending}`
}

// --- the compatibility gate -------------------------------------------------------------------------

function parseVersion(v) {
  // Strict SemVer (no leading zeros, no `x` wildcards), pre-release/build suffix allowed.
  const m = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/.exec(typeof v === 'string' ? v : '')
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : null
}
function compareVersion(a, b) {
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i] - b[i]
  return 0
}

/** Why a discovery document is refused (empty = accepted). */
function compatibilityProblems(doc) {
  const problems = []
  if (!doc || typeof doc !== 'object') return ['not a JSON object']
  if (Number(doc.schema_version ?? 0) !== 1) problems.push(`schema_version ${doc.schema_version}`)
  if (!ACCEPTED_CONTRACT_REVISIONS.includes(doc.contract_revision)) problems.push(`contract_revision ${doc.contract_revision}`)
  if (doc.api?.name !== 'fortemi') problems.push(`api.name ${doc.api?.name}`)
  const min = parseVersion(doc.api?.minimum_hotm_enterprise_client)
  if (!min || compareVersion(min, CLIENT_VERSION) > 0) problems.push(`api.minimum_hotm_enterprise_client ${doc.api?.minimum_hotm_enterprise_client}`)
  const v = parseVersion(doc.api?.version)
  if (!v || compareVersion(v, API_VERSION_MIN) < 0 || compareVersion(v, API_VERSION_MAX) >= 0) problems.push(`api.version ${doc.api?.version}`)
  const auth = doc.auth
  if (!auth || typeof auth.required !== 'boolean') problems.push('auth.required missing')
  else if (auth.required && auth.claim_contract_version !== '1') problems.push(`auth.claim_contract_version ${auth.claim_contract_version}`)
  else if (!auth.required && auth.mode !== 'anonymous_local') problems.push(`auth.mode ${auth.mode}`)
  return problems
}

async function preflight() {
  // HotM's API client sends these on every request, this one included.
  const headers = { 'Content-Type': 'application/json' }
  if (TOKEN) headers.Authorization = `Bearer ${TOKEN}`
  if (MEMORY) headers['X-Fortemi-Memory'] = MEMORY
  const res = await fetch(`${API_BASE}/system/compatibility`, { headers })
  if (!res.ok) throw new Error(`compatibility endpoint returned ${res.status}`)
  const doc = await res.json()
  state.compatibility = doc
  state.compatibilityProblems = compatibilityProblems(doc)
  return state.compatibilityProblems.length === 0 ? doc : null
}

// --- the event bus: unwrap, context filter, de-dup, coalesce, counters --------------------------------

function unwrap(data) {
  const payload = data.payload
  if (payload && typeof payload === 'object' && !Array.isArray(payload)) {
    return {
      ...payload,
      type: data.event_type ?? data.type ?? payload.type ?? '',
      event_type: data.event_type,
      payload_type: payload.type,
      event_id: data.event_id ?? payload.event_id,
      occurred_at: data.occurred_at,
      memory: data.memory,
      tenant_id: data.tenant_id,
      actor: data.actor,
      entity_type: data.entity_type,
      entity_id: data.entity_id,
      correlation_id: data.correlation_id,
      causation_id: data.causation_id,
      payload_version: data.payload_version,
    }
  }
  if (!data.type && typeof data.event_type === 'string') return { ...data, type: data.event_type }
  return data
}

function matchesContext(event) {
  if (SYSTEM_TYPES.has(event.type)) return true
  if (MEMORY && event.memory !== MEMORY) return false
  if (TENANT && event.tenant_id !== TENANT) return false
  return true
}

// HotM checks each known event against the payload schemas of Fortemi's AsyncAPI document before any
// handler sees it; a non-conforming event becomes `Unknown` (no counter moves). The rules of the types
// this server emits: required fields, and the type of every field when present ('?' = null allowed).
const FIELD_RULES = {
  'queue.status': { legacy: 'QueueStatus', required: ['pending', 'running', 'total_jobs'], fields: { pending: 'integer', running: 'integer', total_jobs: 'integer' } },
  'job.queued': { legacy: 'JobQueued', required: ['job_id', 'job_type'], fields: { job_id: 'uuid', job_type: 'string', note_id: 'uuid?' } },
  'job.started': { legacy: 'JobStarted', required: ['job_id', 'job_type'], fields: { job_id: 'uuid', job_type: 'string', note_id: 'uuid?' } },
  'job.progress': { legacy: 'JobProgress', required: ['job_id', 'progress'], fields: { job_id: 'uuid', progress: 'integer', message: 'string?', note_id: 'uuid?' } },
  'job.completed': { legacy: 'JobCompleted', required: ['job_id', 'job_type'], fields: { job_id: 'uuid', job_type: 'string', duration_ms: 'integer?', note_id: 'uuid?' } },
  'job.failed': { legacy: 'JobFailed', required: ['error', 'job_id', 'job_type'], fields: { error: 'string', job_id: 'uuid', job_type: 'string', note_id: 'uuid?' } },
  'jobs.paused': { legacy: 'JobsPaused', required: ['scope'], fields: { scope: 'string' } },
  'jobs.resumed': { legacy: 'JobsResumed', required: ['scope'], fields: { scope: 'string' } },
  'note.created': { legacy: 'NoteCreated', required: ['note_id', 'tags'], fields: { note_id: 'uuid', tags: 'string[]', title: 'string?' } },
  'note.updated': { legacy: 'NoteUpdated', required: ['has_ai_content', 'has_links', 'note_id', 'tags'], fields: { has_ai_content: 'boolean', has_links: 'boolean', note_id: 'uuid', tags: 'string[]', title: 'string?' } },
  'note.deleted': { legacy: 'NoteDeleted', required: ['note_id'], fields: { note_id: 'uuid' } },
}
const RULE_BY_NAME = new Map(Object.entries(FIELD_RULES).flatMap(([name, rule]) => [[name, { ...rule, eventType: name }], [rule.legacy, { ...rule, eventType: name }]]))
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

function valueOk(value, spec) {
  const nullable = spec.endsWith('?')
  const t = nullable ? spec.slice(0, -1) : spec
  if (value === null) return nullable
  if (t === 'uuid') return typeof value === 'string' && UUID.test(value)
  if (t === 'integer') return Number.isInteger(value)
  if (t === 'string[]') return Array.isArray(value) && value.every((v) => typeof v === 'string')
  return typeof value === t
}

/** Why HotM would turn this event into `Unknown` (null = it conforms, or is not a checked type). */
function nonConformance(event, raw) {
  const rule = RULE_BY_NAME.get(raw)
  if (!rule) return null
  const isEnvelope = raw === rule.eventType
  if (isEnvelope) {
    if (typeof event.event_id !== 'string' || !UUID.test(event.event_id)) return `event_id ${event.event_id}`
    for (const k of ['correlation_id', 'causation_id']) if (typeof event[k] === 'string' && !UUID.test(event[k])) return `${k} ${event[k]}`
  }
  const payloadType = isEnvelope ? event.payload_type : event.type
  if (payloadType !== rule.legacy) return `payload type ${payloadType}`
  for (const k of rule.required) if (!(k in event)) return `missing ${k}`
  for (const [k, spec] of Object.entries(rule.fields)) if (k in event && !valueOk(event[k], spec)) return `${k} ${JSON.stringify(event[k])}`
  return null
}

function handlerType(raw) {
  return NAMESPACED[raw] ?? (LEGACY.has(raw) ? raw : 'Unknown')
}

const seen = new Map() // event_id → time first handled
const coalesced = new Map() // key → latest event
const coalesceTimers = new Map()

function publish(input, transport) {
  const event = { ...unwrap(input), transport }
  event.raw_type = event.type
  event.nonconformant = nonConformance(event, event.type)
  event.type = event.nonconformant ? 'Unknown' : handlerType(event.type)
  // HotM reads `progress_percent`, falling back to `progress`.
  if (typeof event.progress_percent !== 'number' && typeof event.progress === 'number') event.progress_percent = event.progress
  const now = Date.now()
  for (const [id, t] of seen) if (now - t > DEDUP_TTL_MS) seen.delete(id)
  if (event.event_id) {
    if (seen.has(event.event_id)) {
      state.dropped.duplicate++
      return
    }
    seen.set(event.event_id, now)
  }
  if (COALESCE_TYPES.has(event.type)) {
    const key = `${event.type}:${event.job_id ?? '-'}:${event.note_id ?? '-'}`
    if (coalesced.has(key)) state.dropped.coalesced++
    else state.pendingCoalesced++
    coalesced.set(key, event)
    if (!coalesceTimers.has(key)) {
      coalesceTimers.set(
        key,
        setTimeout(() => {
          const latest = coalesced.get(key)
          coalesced.delete(key)
          coalesceTimers.delete(key)
          state.pendingCoalesced--
          if (latest) emit(latest)
        }, COALESCE_WINDOW_MS),
      )
    }
    return
  }
  emit(event)
}

function emit(event) {
  state.handled.push(event)
  const q = state.queueStatus
  switch (event.type) {
    case 'QueueStatus':
      state.queueStatus = { total_jobs: event.total_jobs || 0, running: event.running || 0, pending: event.pending || 0 }
      break
    case 'JobQueued':
      state.queueStatus = { ...q, pending: q.pending + 1, total_jobs: q.total_jobs + 1 }
      break
    case 'JobStarted':
      state.queueStatus = { ...q, pending: Math.max(0, q.pending - 1), running: q.running + 1 }
      break
    case 'JobCompleted':
    case 'JobFailed':
      state.queueStatus = { ...q, running: Math.max(0, q.running - 1), total_jobs: Math.max(0, q.total_jobs - 1) }
      break
    case 'ResyncRequired':
    case 'EventsLagged':
      sendWs('refresh')
      break
  }
  render()
}

// --- SSE over fetch (newest) --------------------------------------------------------------------------

let reconnectAttempts = 0

function dispatchSse(data, idLine, eventLine) {
  if (eventLine) data.type = eventLine
  const unwrapped = unwrap(data)
  const cursor = typeof unwrapped.event_id === 'string' ? unwrapped.event_id : idLine || null
  if (cursor) state.sse.lastEventId = cursor
  if (!matchesContext(unwrapped)) {
    state.dropped.context++
    return
  }
  // Like HotM, the bus gets the unwrapped event, its event_id being the cursor (the `id:` line when the data has none).
  publish(cursor ? { ...unwrapped, event_id: cursor } : unwrapped, 'sse')
}

async function connectSse() {
  const headers = { Accept: 'text/event-stream' }
  if (TOKEN) headers.Authorization = `Bearer ${TOKEN}`
  if (MEMORY) headers['X-Fortemi-Memory'] = MEMORY
  if (state.sse.lastEventId) headers['Last-Event-ID'] = state.sse.lastEventId
  state.sse.connects.push({ at: Date.now(), lastEventId: state.sse.lastEventId })
  state.sse.status = 'connecting'
  try {
    const res = await fetch(`${API_BASE}/events`, { headers })
    if (!res.ok) throw new Error(`SSE endpoint returned ${res.status}`)
    if (!res.body) throw new Error('SSE response has no body stream')
    state.sse.status = 'connected'
    state.sse.connected = true
    reconnectAttempts = 0
    const reader = res.body.getReader()
    const decoder = new TextDecoder()
    let buffer = ''
    let event = ''
    let data = ''
    let id = ''
    for (;;) {
      const { value, done } = await reader.read()
      if (done) break
      buffer += decoder.decode(value, { stream: true })
      const lines = buffer.split('\n')
      buffer = lines.pop() || ''
      for (const line of lines) {
        if (line === '') {
          if (data) {
            let parsed
            try {
              parsed = JSON.parse(data)
            } catch {
              state.dropped.unparsable++
            }
            if (parsed) {
              state.frames.push({ transport: 'sse', id: id || null, event: event || null, data: parsed, at: Date.now() })
              dispatchSse(parsed, id, event)
            }
          }
          event = ''
          data = ''
          id = ''
        } else if (line.startsWith('data:')) {
          data += (data ? '\n' : '') + (line.startsWith('data: ') ? line.slice(6) : line.slice(5))
        } else if (line.startsWith('event:')) {
          event = line.startsWith('event: ') ? line.slice(7) : line.slice(6)
        } else if (line.startsWith('id:')) {
          id = line.startsWith('id: ') ? line.slice(4) : line.slice(3)
        }
      }
    }
    state.sse.failures.push({ at: Date.now(), reason: 'stream ended' })
  } catch (err) {
    state.sse.failures.push({ at: Date.now(), reason: String(err && err.message ? err.message : err) })
  }
  state.sse.connected = false
  state.sse.status = 'reconnecting'
  // HotM's schedule: 1 s, 2 s, 4 s, 8 s, at most 15 s; reset by a successful connect.
  const delay = Math.min(1000 * 2 ** reconnectAttempts, 15000)
  reconnectAttempts++
  setTimeout(connectSse, delay)
}

// --- WebSocket ----------------------------------------------------------------------------------------

let ws = null

function sendWs(text) {
  if (ws && ws.readyState === WebSocket.OPEN) {
    ws.send(text)
    state.ws.sent.push(text)
  }
}

function wsUrl() {
  const u = new URL(API_BASE)
  const url = `${u.protocol === 'https:' ? 'wss' : 'ws'}://${u.host}${u.pathname.replace(/\/+$/, '')}/ws`
  // Seed-era deployments with auth passed the token in the query (the only place a browser WebSocket can).
  return MODE === 'seed' && TOKEN ? `${url}?token=${encodeURIComponent(TOKEN)}` : url
}

function connectWs(onMessage) {
  state.ws.url = wsUrl()
  ws = new WebSocket(state.ws.url)
  ws.onopen = () => {
    state.ws.opens++
    sendWs('refresh')
  }
  ws.onmessage = (e) => {
    let msg
    try {
      msg = JSON.parse(e.data)
    } catch {
      state.dropped.unparsable++
      return
    }
    state.frames.push({ transport: 'ws', id: null, event: null, data: msg, at: Date.now() })
    onMessage(msg)
  }
  ws.onclose = (e) => {
    state.ws.closes.push({ code: e.code, reason: e.reason, at: Date.now() })
    ws = null
    if (e.code !== 1000) setTimeout(() => connectWs(onMessage), 3000)
  }
}

// --- start --------------------------------------------------------------------------------------------

async function startNewest() {
  let doc
  try {
    doc = await preflight()
  } catch (err) {
    state.phase = 'failed'
    state.compatibilityProblems = [String(err && err.message ? err.message : err)]
    render()
    return
  }
  if (!doc) {
    state.phase = 'incompatible'
    render()
    return
  }
  const anonymousLocal = !doc.auth.required && doc.auth.mode === 'anonymous_local'
  state.phase = 'streaming'
  render()
  // An authenticated session needs its tenant binding before any stream opens (HotM refuses otherwise).
  if (TOKEN && !TENANT) {
    state.sse.status = 'closed'
    state.sse.failures.push({ at: Date.now(), reason: 'authenticated context without a tenant binding' })
    return
  }
  void connectSse()
  // The legacy WebSocket: a command channel in anonymous local mode; its messages count only while
  // SSE is down (HotM avoids handling an event twice that way, and de-duplicates by event_id too).
  if (anonymousLocal && !TOKEN && !MEMORY && !TENANT) {
    connectWs((msg) => {
      if (!state.sse.connected) publish(msg, 'ws')
    })
  }
}

function startSeed() {
  state.phase = 'streaming'
  render()
  connectWs((msg) => {
    // The seed-era switch fell through to QueueStatus for any type it did not know: an extra frame
    // type on the WebSocket would zero its counters. Recorded as `seed_type` so a test can tell.
    const type = SEED_TYPES.has(msg.type) ? msg.type : 'QueueStatus'
    emit({ ...msg, type, seed_type: msg.type, transport: 'ws' })
  })
}

// The pure parts, for table-driven checks from the tests (page.evaluate).
window.__hotmTest = { compatibilityProblems, nonConformance: (e) => nonConformance(unwrap(e), unwrap(e).type), unwrap }

if (MODE === 'seed') startSeed()
else if (MODE === 'newest') void startNewest()
