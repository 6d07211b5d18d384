import type { LatencySummary } from './stats.ts'
import type { ClientKind } from './ws-fleet.ts'

/** What the runner tells the load generator (one JSON argument) and what it answers (one RESULT line). */

/** `ours-pg`: our server with every store on a throwaway PostgreSQL database (`--postgres`). */
export type TargetKind = 'ours' | 'ours-pg' | 'bun' | 'node'

/**
 * The webhook receiver: `none` answers 200; `first` answers 500 to every delivery's first attempt (exactly
 * half the requests, every event needs a retry); `random` answers 500 to each request with probability ½;
 * `alternate` to every other request.
 */
export type FailMode = 'none' | 'first' | 'random' | 'alternate'

export const TARGET_LABEL: Record<TargetKind, string> = {
  ours: 'matric-realtime',
  'ours-pg': 'matric-realtime on PostgreSQL',
  bun: 'raw Bun.serve pub/sub',
  node: 'Node ws send loop',
}

export interface Target {
  kind: TargetKind
  pid: number
  /** http://127.0.0.1:<port> */
  http: string
  wsUrl: string
  /** Absent when the server has no SSE endpoint (Node baseline; ours before SSE landed). */
  sseUrl?: string
  /** Ours only. */
  tokens?: {
    read: string
    admin: string
    /** Tokens for the soak mix: tag-restricted, other memories (`memory` query to use with each). */
    mix: { token: string; memory: string }[]
    /** The server's HS256 secret (a throwaway of this run): the soak signs tokens that expire while connected. */
    secret: string
  }
}

export type Scenario =
  | { kind: 'ws-fanout'; clients: number; events: number; window: number; bytes: number }
  | { kind: 'ws-rate'; clients: number; rate: number; seconds: number; bytes: number }
  | { kind: 'ws-idle'; clients: number }
  | { kind: 'sse-rate'; clients: number; rate: number; seconds: number; bytes: number }
  | { kind: 'webhook'; events: number; window: number; bytes: number; failMode: FailMode }
  | { kind: 'pipeline'; clients: number; notes: number; rate: number }
  | { kind: 'soak'; seconds: number; steadyClients: number; churnClients: number; churnPerS: number; sseClients: number; rate: number; notesPerS: number }

export interface Spec {
  scenario: Scenario
  target: Target
  /** WebSocket client implementation of the load generator. */
  client: ClientKind
  repeat?: number
}

export interface RunResult {
  scenario: Scenario['kind']
  target: TargetKind
  label: string
  params: Scenario
  clients: number
  events: number
  delivered: number
  expected: number
  lossless: boolean
  /** Deliveries (one event reaching one client) per second over the measured window. */
  deliveriesPerS: number | null
  /** Publish start → receipt at the client, ms. */
  latency: LatencySummary | null
  serverCpuPct: number | null
  clientCpuPct: number | null
  /** CPU used by everything else on the machine during the window (noise from other work). */
  otherCpuPct: number | null
  /** 1-based run number when a scenario is repeated. */
  repeat: number
  /** /proc/loadavg when the run started. */
  loadavg: string
  /** Fingerprint of src/ when the server under test started (others may edit the tree while we measure). */
  code?: string
  serverRssMb: number | null
  serverRssPeakMb: number | null
  seconds: number | null
  /** Frame size on the wire (bytes of the WebSocket text frame or SSE data line). */
  frameBytes?: number
  extra: Record<string, unknown>
  notes: string[]
  error?: string
}

export function emptyResult(spec: Spec): RunResult {
  const s = spec.scenario
  return {
    scenario: s.kind,
    target: spec.target.kind,
    label: TARGET_LABEL[spec.target.kind],
    params: s,
    clients: 'clients' in s ? s.clients : 0,
    events: 0,
    delivered: 0,
    expected: 0,
    lossless: false,
    deliveriesPerS: null,
    latency: null,
    serverCpuPct: null,
    clientCpuPct: null,
    otherCpuPct: null,
    repeat: spec.repeat ?? 1,
    loadavg: '',
    serverRssMb: null,
    serverRssPeakMb: null,
    seconds: null,
    extra: {},
    notes: [],
  }
}

export const RESULT_PREFIX = 'RESULT '
