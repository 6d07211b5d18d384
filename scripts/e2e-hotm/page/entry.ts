/**
 * The harness page: runs HotM's realtime client (bundled unchanged from a HotM checkout) the way the UI
 * does — the bearer token and memory in localStorage under HotM's keys (set by the runner before the page
 * loads), the tenant bound through `setActiveTenantId` as an embedding host does, and HotM's own
 * `useWebSocket` hook mounted — and records what a user of the UI would see:
 *
 * - every event HotM's realtime event bus emits (after its normalisation, de-duplication and coalescing);
 * - the hook's state: connected, connection state, transport, queue counters, replay cursor;
 * - a network tap below HotM: each SSE request's headers and the raw frames it received (before any HotM
 *   processing, so duplicates and gaps on the wire are visible), compatibility answers, WebSocket traffic.
 *
 * The runner (scripts/e2e-hotm.ts) reads it all through `window.__hotm.snapshot()`.
 */
import webSocketService, { useWebSocket, type UseWebSocketState } from '@/services/websocket'
import { realtimeEventBus, type RealtimeEvent } from '@/services/realtimeEventBus'
import { api, getActiveMemory, getActiveTenantId, getApiBearerToken, setActiveTenantId } from './api-index.ts'
import { mountHook } from './react-hooks.ts'
import { createJobsApi } from '@/api/jobs'

export interface WireFrame {
  at: number
  id?: string
  event?: string
  data?: string
  /** From the data: the envelope's event_id / event_type / payload.type. */
  event_id?: string
  event_type?: string
  payload_type?: string
}

export interface SseRequest {
  at: number
  url: string
  lastEventId: string | null
  authorization: boolean
  memoryHeader: string | null
  status?: number
  error?: string
  ended?: number
  frames: WireFrame[]
}

export interface BusEvent extends RealtimeEvent {
  at: number
}

export interface HookState {
  at: number
  connected: boolean
  connectionState?: string
  transportMode?: string
  replayCursor?: string | null
  queueStatus: { total_jobs: number; running: number; pending: number }
  lastResyncAt?: number
}

/** HotM's own pause/resume calls (ui/src/api/jobs.ts), as its job management panel makes them. */
export interface JobsActions {
  pause(archive: string | null): Promise<JobsCall>
  resume(archive: string | null): Promise<JobsCall>
  status(): Promise<JobsCall>
}
export interface JobsCall {
  ok: boolean
  value?: unknown
  error?: string
}

export interface Snapshot {
  bus: BusEvent[]
  hook: HookState | null
  connectionStates: string[]
  sse: SseRequest[]
  compatibility: { at: number; status?: number; body?: string; error?: string }[]
  ws: { url: string; sent: string[]; received: number; closedCode?: number }[]
  gate: { state: string; errorCode?: string; errorMessage?: string }
  context: { token: boolean; memory: string | null; tenant: string | null }
  replayCursor: string | null
  /** The service's transport now (the hook's copy is only as fresh as its last render). */
  transport: string
  errors: string[]
}

/** The browser globals the page uses (the repository type-checks against Bun's types, not the DOM's). */
interface PageWindow {
  location: { href: string; origin: string }
  WebSocket: typeof WebSocket
  addEventListener(type: 'error', fn: (e: { message: string }) => void): void
  addEventListener(type: 'unhandledrejection', fn: (e: { reason: unknown }) => void): void
  __HOTM_E2E__?: { tenant?: string | null }
  __hotm?: { snapshot(): Snapshot; jobs: JobsActions }
}
const win = globalThis as unknown as PageWindow

const bus: BusEvent[] = []
const sse: SseRequest[] = []
const compatibility: Snapshot['compatibility'] = []
const ws: Snapshot['ws'] = []
const connectionStates: string[] = []
const errors: string[] = []
let hook: HookState | null = null

win.addEventListener('error', (e) => errors.push(String(e.message)))
win.addEventListener('unhandledrejection', (e) => errors.push(`unhandled rejection: ${String(e.reason)}`))

function pathOf(input: string | URL | Request): string {
  const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url
  return new URL(url, win.location.href).pathname
}

/** Parses SSE frames from a copy of the response body (WHATWG field grammar; blank line ends a frame). */
async function readFrames(body: ReadableStream<Uint8Array>, rec: SseRequest): Promise<void> {
  const reader = body.getReader()
  const decoder = new TextDecoder()
  let buffer = ''
  let frame: WireFrame = { at: 0 }
  try {
    for (;;) {
      const { value, done } = await reader.read()
      if (done) break
      buffer += decoder.decode(value, { stream: true })
      const lines = buffer.split('\n')
      buffer = lines.pop() ?? ''
      for (const raw of lines) {
        const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw
        if (line === '') {
          if (frame.data !== undefined) {
            frame.at = Date.now()
            try {
              const d = JSON.parse(frame.data) as { event_id?: unknown; event_type?: unknown; payload?: { type?: unknown } }
              if (typeof d.event_id === 'string') frame.event_id = d.event_id
              if (typeof d.event_type === 'string') frame.event_type = d.event_type
              if (typeof d.payload?.type === 'string') frame.payload_type = d.payload.type
            } catch {
              // kept as raw data
            }
            rec.frames.push(frame)
          }
          frame = { at: 0 }
          continue
        }
        if (line.startsWith(':')) continue
        const colon = line.indexOf(':')
        const field = colon < 0 ? line : line.slice(0, colon)
        const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '')
        if (field === 'id') frame.id = value
        else if (field === 'event') frame.event = value
        else if (field === 'data') frame.data = frame.data === undefined ? value : `${frame.data}\n${value}`
      }
    }
  } catch {
    // the client aborted the stream (reconnect, close)
  } finally {
    rec.ended = Date.now()
  }
}

// Network tap. HotM resolves `fetch` at call time (lib/tauri.ts getTauriFetch → globalThis.fetch), so this
// wrapper sees its requests without any change to HotM.
const nativeFetch = globalThis.fetch.bind(globalThis)
const tappedFetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
  const path = pathOf(input)
  if (path.endsWith('/api/v1/events')) {
    const headers = new Headers(init?.headers)
    const rec: SseRequest = {
      at: Date.now(),
      url: typeof input === 'string' ? input : input instanceof URL ? input.href : input.url,
      lastEventId: headers.get('last-event-id'),
      authorization: headers.has('authorization'),
      memoryHeader: headers.get('x-fortemi-memory'),
      frames: [],
    }
    sse.push(rec)
    try {
      const res = await nativeFetch(input, init)
      rec.status = res.status
      if (!res.body) return res
      const [forHotm, forTap] = res.body.tee()
      void readFrames(forTap, rec)
      return new Response(forHotm, { status: res.status, statusText: res.statusText, headers: res.headers })
    } catch (e) {
      rec.error = String(e)
      rec.ended = Date.now()
      throw e
    }
  }
  if (path.endsWith('/system/compatibility')) {
    const rec: Snapshot['compatibility'][number] = { at: Date.now() }
    compatibility.push(rec)
    try {
      const res = await nativeFetch(input, init)
      rec.status = res.status
      rec.body = await res.clone().text()
      return res
    } catch (e) {
      rec.error = String(e)
      throw e
    }
  }
  return nativeFetch(input, init)
}
globalThis.fetch = Object.assign(tappedFetch, { preconnect: globalThis.fetch.preconnect })

// WebSocket tap: records the command channel (HotM opens it only in the anonymous local profile).
const NativeWebSocket = win.WebSocket
class TappedWebSocket extends NativeWebSocket {
  private readonly rec: Snapshot['ws'][number]
  constructor(url: string | URL, protocols?: string | string[]) {
    super(url, protocols)
    this.rec = { url: String(url), sent: [], received: 0 }
    ws.push(this.rec)
    this.addEventListener('message', () => this.rec.received++)
    this.addEventListener('close', (e) => (this.rec.closedCode = e.code))
  }
  override send(data: Parameters<WebSocket['send']>[0]): void {
    this.rec.sent.push(typeof data === 'string' ? data : '[binary]')
    super.send(data)
  }
}
win.WebSocket = TappedWebSocket as unknown as typeof WebSocket

// The tenant binding, set the way a host embedding HotM sets it (HotM keeps it in memory only).
const tenant = win.__HOTM_E2E__?.tenant
if (tenant) setActiveTenantId(tenant)

realtimeEventBus.subscribe((event) => {
  bus.push({ ...event, at: Date.now() })
})

mountHook(useWebSocket, (state: UseWebSocketState) => {
  hook = {
    at: Date.now(),
    connected: state.connected,
    connectionState: state.connectionState,
    transportMode: state.transportMode,
    replayCursor: state.replayCursor,
    queueStatus: { ...state.queueStatus },
    lastResyncAt: state.lastResyncAt,
  }
  const s = state.connectionState ?? 'unknown'
  if (connectionStates[connectionStates.length - 1] !== s) connectionStates.push(s)
})

const jobsApi = createJobsApi(api.client)
async function call(fn: () => Promise<unknown>): Promise<JobsCall> {
  try {
    return { ok: true, value: await fn() }
  } catch (e) {
    return { ok: false, error: `${(e as Error).name}: ${(e as Error).message}` }
  }
}

win.__hotm = {
  jobs: {
    pause: (archive) => call(() => (archive ? jobsApi.pauseArchive(archive) : jobsApi.pauseGlobal())),
    resume: (archive) => call(() => (archive ? jobsApi.resumeArchive(archive) : jobsApi.resumeGlobal())),
    status: () => call(() => jobsApi.getPauseStatus()),
  },
  snapshot(): Snapshot {
    const gate = api.compatibilityGate.getSnapshot()
    return {
      bus,
      hook,
      connectionStates,
      sse,
      compatibility,
      ws,
      gate: { state: gate.state, errorCode: gate.error?.code, errorMessage: gate.error?.message },
      context: { token: getApiBearerToken() !== null, memory: getActiveMemory(), tenant: getActiveTenantId() },
      replayCursor: webSocketService.getReplayCursor(),
      transport: webSocketService.getTransportMode(),
      errors,
    }
  },
}
