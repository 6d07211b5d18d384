import { api, ApiFailure, session } from './api.ts'
import { lineChart } from './chart.ts'
import { ago, fill, h, ms, toast } from './dom.ts'

interface Latency {
  count: number
  p50: number | null
  p95: number | null
  p99: number | null
}
interface Summary {
  memory: string
  instance: { node_id: string; version: string; started_at: string; uptime_s: number; cluster: boolean }
  connections: { ws: number; sse: number }
  events: { window_s: number; per_second: number[]; last_minute: number }
  latency_ms: Record<'ws' | 'sse' | 'webhook', Latency>
  jobs: { pending: number; running: number; paused: boolean; paused_globally: boolean }
  webhooks: { queue_depth: number }
}
interface Stats {
  pending: number
  running: number
  completed: number
  failed: number
}

const POLL_MS = 2000
/** Points kept for the connection and latency charts (2 minutes at one poll every 2 s). */
const HISTORY = 60
const TRANSPORTS = ['ws', 'sse', 'webhook'] as const

/**
 * Overview: connections, events/s and latency percentiles per transport as small live charts (from
 * /api/v1/system/summary, admin), job queue counts with pause/resume, this instance.
 * Without admin it shows the queue counts any reader may see (/api/v1/jobs/stats).
 */
export class OverviewPanel {
  private timer: ReturnType<typeof setInterval> | undefined
  private history: Summary[] = []
  private body: HTMLElement

  constructor(private el: HTMLElement) {
    this.body = h('div', { class: 'grid', id: 'overview-body' }, h('p', { class: 'muted' }, 'Loading…'))
    fill(el, h('h2', { class: 'sr-only' }, 'Overview'), this.body)
  }

  show(): void {
    void this.poll()
    clearInterval(this.timer)
    this.timer = setInterval(() => void this.poll(), POLL_MS)
  }
  hide(): void {
    clearInterval(this.timer)
    this.timer = undefined
  }
  reset(): void {
    this.hide()
    this.history = []
    fill(this.body, h('p', { class: 'muted' }, 'Loading…'))
  }

  private async poll(): Promise<void> {
    try {
      const s = await api<Summary>('GET', '/api/v1/system/summary')
      this.history.push(s)
      if (this.history.length > HISTORY) this.history.shift()
      this.renderAdmin(s)
    } catch (e) {
      if (e instanceof ApiFailure && e.status === 403) return this.renderReader(e.message)
      fill(this.body, h('p', { class: 'error', role: 'alert' }, `Overview unavailable: ${(e as Error).message}`))
    }
  }

  private async renderReader(why: string): Promise<void> {
    try {
      const st = await api<Stats>('GET', '/api/v1/jobs/stats')
      fill(
        this.body,
        this.card('Job queue', h('dl', { class: 'stats' }, ...stat('Pending', st.pending), ...stat('Running', st.running), ...stat('Completed', st.completed), ...stat('Failed', st.failed))),
        h('p', { class: 'muted', id: 'overview-limited' }, `Transport figures need an admin token for ${session.memory} (${why}).`),
      )
    } catch (e) {
      fill(this.body, h('p', { class: 'error', role: 'alert' }, (e as Error).message))
    }
  }

  private renderAdmin(s: Summary): void {
    const hist = this.history
    const eps = s.events.per_second
    const nowRate = eps[eps.length - 2] ?? 0 // the last full second
    const conn = this.card(
      'Connections',
      h('dl', { class: 'stats' }, ...stat('WebSocket', s.connections.ws, 'ov-ws'), ...stat('SSE', s.connections.sse, 'ov-sse')),
      lineChart(
        [
          { values: hist.map((x) => x.connections.ws), cls: 's1', label: 'WebSocket connections' },
          { values: hist.map((x) => x.connections.sse), cls: 's2', label: 'SSE connections' },
        ],
        `Connections over the last ${Math.round((hist.length * POLL_MS) / 1000)} s: WebSocket ${s.connections.ws}, SSE ${s.connections.sse}`,
      ),
      legend([['s1', 'WebSocket'], ['s2', 'SSE']]),
    )
    const events = this.card(
      `Events/s in ${s.memory}`,
      h('dl', { class: 'stats' }, ...stat('Last second', nowRate, 'ov-eps'), ...stat('Last minute', s.events.last_minute, 'ov-epm')),
      lineChart([{ values: eps, cls: 's1', label: 'events per second' }], `Events per second over the last ${s.events.window_s} s, ${s.events.last_minute} in all`),
    )
    const latency = TRANSPORTS.map((t) => {
      const l = s.latency_ms[t]
      return this.card(
        `Latency · ${t === 'ws' ? 'WebSocket' : t === 'sse' ? 'SSE' : 'webhooks'}`,
        h('dl', { class: 'stats' }, ...stat('p50', ms(l.p50)), ...stat('p95', ms(l.p95)), ...stat('p99', ms(l.p99)), ...stat('events', l.count)),
        lineChart(
          [
            { values: hist.map((x) => x.latency_ms[t].p50), cls: 's1', label: 'p50' },
            { values: hist.map((x) => x.latency_ms[t].p95), cls: 's2', label: 'p95' },
            { values: hist.map((x) => x.latency_ms[t].p99), cls: 's3', label: 'p99' },
          ],
          `${t} latency percentiles over the last minute: p50 ${ms(l.p50)}, p95 ${ms(l.p95)}, p99 ${ms(l.p99)}`,
        ),
        legend([['s1', 'p50'], ['s2', 'p95'], ['s3', 'p99']]),
      )
    })
    const paused = s.jobs.paused
    const jobs = this.card(
      'Job queue',
      h('dl', { class: 'stats' }, ...stat('Pending', s.jobs.pending, 'ov-pending'), ...stat('Running', s.jobs.running, 'ov-running'), ...stat('Webhook deliveries waiting', s.webhooks.queue_depth)),
      h(
        'p',
        {},
        h('span', { class: `badge ${paused ? 'warn' : 'ok'}`, id: 'ov-paused' }, paused ? (s.jobs.paused_globally ? 'paused everywhere' : 'paused') : 'running'),
        ' ',
        s.jobs.paused_globally
          ? h('span', { class: 'muted' }, 'resume globally with POST /api/v1/jobs/resume')
          : h('button', { type: 'button', id: 'ov-pause', onclick: () => void this.pause(paused ? 'resume' : 'pause') }, paused ? `Resume jobs of ${s.memory}` : `Pause jobs of ${s.memory}`),
      ),
    )
    const inst = this.card(
      'Instances',
      h(
        'table',
        {},
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Node'), h('th', { scope: 'col' }, 'Version'), h('th', { scope: 'col' }, 'Up since'))),
        h('tbody', {}, h('tr', {}, h('td', {}, s.instance.node_id), h('td', {}, s.instance.version), h('td', {}, ago(s.instance.started_at)))),
      ),
      h('p', { class: 'muted' }, s.instance.cluster ? '' : 'Single instance: there is no cluster mode yet, so this is the only one.'),
    )
    fill(this.body, conn, events, jobs, ...latency, inst)
  }

  private async pause(action: 'pause' | 'resume'): Promise<void> {
    try {
      await api('POST', `/api/v1/jobs/${action}/${encodeURIComponent(session.memory)}`)
      toast(action === 'pause' ? `Jobs of ${session.memory} paused` : `Jobs of ${session.memory} resumed`)
      await this.poll()
    } catch (e) {
      toast((e as Error).message, 'error')
    }
  }

  private card(title: string, ...children: (Node | null)[]): HTMLElement {
    return h('section', { class: 'card' }, h('h3', {}, title), ...children)
  }
}

function stat(label: string, value: string | number, id?: string): HTMLElement[] {
  return [h('dt', {}, label), h('dd', { id: id ?? null }, String(value))]
}

function legend(items: [string, string][]): HTMLElement {
  return h('p', { class: 'legend', 'aria-hidden': 'true' }, ...items.flatMap(([cls, label]) => [h('span', { class: `key ${cls}` }), ` ${label} `]))
}
