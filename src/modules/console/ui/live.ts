import { authHeaders, session } from './api.ts'
import { clock, fill, h, toast } from './dom.ts'
import { EventStream, type SseFrame, type StreamStatus } from './sse.ts'

/** Event groups offered as filters: the dotted prefixes of the catalog (docs/sse.md). */
export const GROUPS = ['note', 'job', 'jobs', 'queue', 'webhook', 'other'] as const
type Group = (typeof GROUPS)[number]
const MAX_KEPT = 1000
const MAX_SHOWN = 300

interface Envelope {
  event_id?: string
  event_type?: string
  occurred_at?: string
  entity_type?: string
  entity_id?: string
  payload?: Record<string, unknown>
}

interface Item {
  n: number
  frame: SseFrame
  env: Envelope | null
  group: Group
}

export function groupOf(eventType: string): Group {
  const head = eventType.split('.')[0] as Group
  return (GROUPS as readonly string[]).includes(head) && head !== 'other' ? head : 'other'
}

/** One line about an event: what a person scans for (ids shortened). */
export function describe(env: Envelope | null, frame: SseFrame): string {
  if (!env?.payload) return frame.data.slice(0, 120)
  const p = env.payload
  // UUIDv7s share their leading (time) digits: the last ones tell ids apart.
  const short = (v: unknown) => (typeof v === 'string' ? v.slice(-8) : '')
  const parts: string[] = []
  if (p.job_type) parts.push(String(p.job_type))
  if (p.note_id) parts.push(`note ${short(p.note_id)}`)
  if (p.job_id) parts.push(`job ${short(p.job_id)}`)
  if (p.webhook_id) parts.push(`webhook ${short(p.webhook_id)}`)
  if (typeof p.progress === 'number') parts.push(`${p.progress}%`)
  if (p.title) parts.push(`“${String(p.title).slice(0, 40)}”`)
  if (Array.isArray(p.tags) && p.tags.length) parts.push(`tags ${p.tags.join(', ')}`)
  if (p.type === 'QueueStatus') parts.push(`pending ${p.pending}, running ${p.running}`)
  if (p.error) parts.push(String(p.error).slice(0, 80))
  if (p.reason) parts.push(String(p.reason).slice(0, 80))
  if (p.scope) parts.push(String(p.scope))
  return parts.join(' · ')
}

/** Live events: the memory's SSE stream, filterable, pausable, each event's JSON on demand. */
export class LivePanel {
  private stream: EventStream | null = null
  private items: Item[] = []
  private held: Item[] = []
  private paused = false
  private seq = 0
  private selected: Item | null = null
  private filter = new Set<Group>(GROUPS)
  private list: HTMLOListElement
  private status: HTMLElement
  private counts: HTMLElement
  private detail: HTMLPreElement
  private pauseBtn: HTMLButtonElement

  constructor(
    private el: HTMLElement,
    private onWebhookDisabled: () => void,
  ) {
    this.status = h('span', { class: 'badge', id: 'live-status', role: 'status' }, 'connecting')
    this.counts = h('span', { class: 'muted', id: 'live-counts' })
    this.pauseBtn = h('button', { type: 'button', id: 'live-pause', 'aria-pressed': 'false', onclick: () => this.togglePause() }, 'Pause')
    const boxes = GROUPS.map((g) =>
      h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'type', value: g, checked: true, onchange: (e: Event) => this.toggle(g, (e.target as HTMLInputElement).checked) }), ` ${g}`),
    )
    this.list = h('ol', { class: 'events', id: 'live-events', 'aria-label': 'Events, newest first' })
    this.detail = h('pre', { class: 'json', id: 'live-json', tabindex: '0', 'aria-label': 'JSON of the selected event' }, 'Select an event to see its JSON.')
    fill(
      el,
      h('h2', { class: 'sr-only' }, 'Live events'),
      h(
        'div',
        { class: 'toolbar' },
        this.status,
        this.pauseBtn,
        h('button', { type: 'button', onclick: () => this.clear() }, 'Clear'),
        h('fieldset', { class: 'types' }, h('legend', {}, 'Types'), ...boxes),
        this.counts,
      ),
      h('div', { class: 'split' }, h('div', { class: 'scroll' }, this.list), h('div', { class: 'detail' }, h('h3', {}, 'Event JSON'), this.detail)),
    )
    this.start()
  }

  show(): void {
    if (!this.stream) this.start()
  }
  hide(): void {}

  /** Memory switch or sign-out: a new stream, an empty list. */
  reset(): void {
    this.stream?.stop()
    this.stream = null
    this.clear()
  }

  private start(): void {
    const memory = session.memory
    this.stream = new EventStream({
      url: () => `/api/v1/events?memory=${encodeURIComponent(memory)}`,
      headers: () => {
        const h = authHeaders()
        delete h['x-matric-memory'] // the query names it (streams prefer the query)
        return h
      },
      onFrame: (f) => this.add(f),
      onStatus: (s, d) => this.setStatus(s, d),
    })
    this.stream.start()
  }

  private setStatus(s: StreamStatus, detail?: string): void {
    const text: Record<StreamStatus, string> = {
      connecting: 'connecting',
      open: detail ? `live (resumed after ${detail.slice(0, 13)}…)` : 'live',
      reconnecting: detail ? `reconnecting, will resume after ${detail.slice(0, 13)}…` : 'reconnecting',
      closed: 'closed',
      denied: `refused: ${detail ?? ''}`,
    }
    this.status.textContent = text[s]
    this.status.dataset.state = s
  }

  private add(frame: SseFrame): void {
    let env: Envelope | null = null
    try {
      env = JSON.parse(frame.data) as Envelope
    } catch {
      /* shown raw */
    }
    const type = env?.event_type ?? frame.event
    const item: Item = { n: ++this.seq, frame, env, group: groupOf(type) }
    if (type === 'webhook.disabled') {
      toast(`Webhook …${String(env?.payload?.webhook_id ?? '').slice(-8)} disabled: ${String(env?.payload?.reason ?? '')}`, 'error')
      this.onWebhookDisabled()
    }
    if (this.paused) {
      this.held.push(item)
      if (this.held.length > MAX_KEPT) this.held.shift()
      this.updateCounts()
      return
    }
    this.keep(item)
    if (this.filter.has(item.group)) {
      this.list.prepend(this.row(item))
      while (this.list.childElementCount > MAX_SHOWN) this.list.lastElementChild!.remove()
    }
    this.updateCounts()
  }

  private keep(item: Item): void {
    this.items.push(item)
    if (this.items.length > MAX_KEPT) this.items.shift()
  }

  private row(item: Item): HTMLLIElement {
    const type = item.env?.event_type ?? item.frame.event
    const synthetic = item.frame.id === null
    return h(
      'li',
      { 'data-type': type, 'data-event-id': item.env?.event_id ?? null, 'data-entity-id': item.env?.entity_id ?? null },
      h(
        'button',
        { type: 'button', class: 'event', 'aria-pressed': String(this.selected === item), onclick: (e: Event) => this.select(item, e.currentTarget as HTMLButtonElement) },
        h('time', {}, item.env?.occurred_at ? clock(item.env.occurred_at) : ''),
        h('span', { class: `type g-${item.group}` }, type),
        synthetic ? h('span', { class: 'tag' }, 'synthetic') : null,
        h('span', { class: 'summary' }, describe(item.env, item.frame)),
      ),
    )
  }

  private select(item: Item, btn: HTMLButtonElement): void {
    this.selected = item
    for (const b of this.list.querySelectorAll('button[aria-pressed="true"]')) b.setAttribute('aria-pressed', 'false')
    btn.setAttribute('aria-pressed', 'true')
    this.detail.textContent = item.env ? JSON.stringify(item.env, null, 2) : item.frame.data
  }

  private render(): void {
    const shown = this.items.filter((i) => this.filter.has(i.group)).slice(-MAX_SHOWN).reverse()
    fill(this.list, ...shown.map((i) => this.row(i)))
  }

  private toggle(g: Group, on: boolean): void {
    if (on) this.filter.add(g)
    else this.filter.delete(g)
    this.render()
  }

  private togglePause(): void {
    this.paused = !this.paused
    this.pauseBtn.textContent = this.paused ? 'Resume' : 'Pause'
    this.pauseBtn.setAttribute('aria-pressed', String(this.paused))
    if (!this.paused) {
      for (const i of this.held) this.keep(i)
      this.held = []
      this.render()
    }
    this.updateCounts()
  }

  private clear(): void {
    this.items = []
    this.held = []
    this.selected = null
    this.list.replaceChildren()
    this.detail.textContent = 'Select an event to see its JSON.'
    this.updateCounts()
  }

  private updateCounts(): void {
    this.counts.textContent = `${this.items.length} events${this.paused ? ` · ${this.held.length} held while paused` : ''}`
  }
}
