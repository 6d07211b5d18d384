import { api, ApiFailure } from './api.ts'
import { ago, clock, fill, h, toast } from './dom.ts'

interface Webhook {
  id: string
  url: string
  events: string[]
  description: string | null
  memory: string
  max_retries: number
  is_active: boolean
  disabled_reason: string | null
  consecutive_failures: number
  created_at: string
  secret?: string
}
interface Health {
  webhook_id: string
  attempts_24h: number
  successes_24h: number
  success_rate: number | null
  last_error: string | null
  last_error_at: string | null
  last_success_at: string | null
  waiting: number
  failed: number
}
interface Attempt {
  id: string
  delivery_id: string
  event_id: string
  event_type: string
  attempt: number
  status_code?: number
  error?: string
  duration_ms: number
  response_excerpt: string
  created_at: string
  success: boolean
}

const POLL_MS = 3000

/** `2026-12-01T10:00` for a datetime-local input, in local time. */
function localInput(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0')
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`
}

function field(id: string, label: string, input: HTMLElement, hint?: string): HTMLElement {
  return h('div', { class: 'field' }, h('label', { for: id }, label), input, hint ? h('small', { id: `${id}-hint` }, hint) : null)
}

/**
 * Webhooks (admin): endpoints with their health, create / edit / enable / disable, a test event, secret
 * rotation, the attempt log with response excerpts, retry of one delivery, and recover (every failed
 * delivery since a time).
 */
export class WebhooksPanel {
  private timer: ReturnType<typeof setInterval> | undefined
  private hooks: Webhook[] = []
  private health = new Map<string, Health>()
  private selectedId: string | null = null
  private list: HTMLElement
  private detail: HTMLElement
  private secretBox: HTMLElement
  private createBox: HTMLElement
  private visible = false

  constructor(private el: HTMLElement) {
    this.list = h('div', { class: 'scroll', id: 'webhook-list' })
    this.detail = h('section', { class: 'card', id: 'webhook-detail', 'aria-live': 'polite', hidden: true })
    this.secretBox = h('div', { id: 'webhook-secret', role: 'status' })
    this.createBox = h('div', { hidden: true }, this.form(null))
    fill(
      el,
      h('h2', { class: 'sr-only' }, 'Webhooks'),
      h(
        'div',
        { class: 'toolbar' },
        h('button', { type: 'button', id: 'webhook-new', 'aria-expanded': 'false', onclick: (e: Event) => this.toggleCreate(e.currentTarget as HTMLButtonElement) }, 'New endpoint'),
        h('button', { type: 'button', onclick: () => void this.refresh() }, 'Refresh'),
      ),
      this.createBox,
      this.secretBox,
      this.list,
      this.detail,
    )
  }

  show(): void {
    this.visible = true
    void this.refresh()
    clearInterval(this.timer)
    this.timer = setInterval(() => void this.refresh(), POLL_MS)
  }
  hide(): void {
    this.visible = false
    clearInterval(this.timer)
  }
  reset(): void {
    this.hide()
    this.selectedId = null
    this.hooks = []
    this.list.replaceChildren()
    this.detail.hidden = true
    this.secretBox.replaceChildren()
  }

  /** Reloads endpoints, their health and the selected one's attempt log (also on webhook.disabled). */
  async refresh(): Promise<void> {
    try {
      const [hooks, summary] = await Promise.all([
        api<Webhook[]>('GET', '/api/v1/webhooks'),
        api<{ webhooks: { endpoints: Health[] } }>('GET', '/api/v1/system/summary').catch(() => null),
      ])
      this.hooks = hooks
      this.health = new Map((summary?.webhooks.endpoints ?? []).map((e) => [e.webhook_id, e]))
      this.renderList()
      if (this.selectedId && this.visible) await this.renderDetail()
    } catch (e) {
      fill(this.list, h('p', { class: 'error', role: 'alert' }, e instanceof ApiFailure ? `Webhooks: ${e.message}` : String(e)))
    }
  }

  private toggleCreate(btn: HTMLButtonElement): void {
    this.createBox.hidden = !this.createBox.hidden
    btn.setAttribute('aria-expanded', String(!this.createBox.hidden))
    if (!this.createBox.hidden) this.createBox.querySelector('input')?.focus()
  }

  private renderList(): void {
    if (!this.hooks.length) return fill(this.list, h('p', { class: 'muted' }, 'No webhook endpoints in this memory yet.'))
    const rows = this.hooks.map((w) => {
      const hl = this.health.get(w.id)
      const rate = hl?.success_rate
      return h(
        'tr',
        { 'data-webhook-id': w.id, class: w.id === this.selectedId ? 'selected' : null },
        h('td', {}, h('button', { type: 'button', class: 'link', onclick: () => void this.select(w.id) }, w.url)),
        h('td', {}, w.events.join(', ')),
        h('td', {}, w.is_active ? h('span', { class: 'badge ok' }, 'active') : h('span', { class: 'badge bad', title: w.disabled_reason ?? '' }, 'disabled')),
        h('td', { class: rate !== null && rate !== undefined && rate < 0.9 ? 'error-text' : null }, rate === null || rate === undefined ? '—' : `${Math.round(rate * 100)}%`),
        h('td', { class: 'error-text last-error' }, hl?.last_error ?? ''),
        h('td', {}, String(hl?.waiting ?? 0)),
        h('td', {}, String(hl?.failed ?? 0)),
      )
    })
    fill(
      this.list,
      h(
        'table',
        { id: 'webhooks-table' },
        h('caption', {}, 'Endpoints (success rate and last error over 24 h)'),
        h('thead', {}, h('tr', {}, ...['URL', 'Events', 'State', 'Success', 'Last error', 'Waiting', 'Failed'].map((c) => h('th', { scope: 'col' }, c)))),
        h('tbody', {}, ...rows),
      ),
    )
  }

  private async select(id: string): Promise<void> {
    this.selectedId = id
    this.renderList()
    await this.renderDetail()
    this.detail.querySelector('h3')?.focus()
  }

  private async renderDetail(): Promise<void> {
    const w = this.hooks.find((x) => x.id === this.selectedId)
    if (!w) {
      this.detail.hidden = true
      return
    }
    let attempts: Attempt[] = []
    try {
      attempts = await api<Attempt[]>('GET', `/api/v1/webhooks/${w.id}/deliveries?limit=50`)
    } catch (e) {
      toast((e as Error).message, 'error')
    }
    // Keep what the user is typing: re-render only the parts that are not a form in use.
    const active = document.activeElement
    const editing = active instanceof HTMLInputElement && this.detail.contains(active)
    const hl = this.health.get(w.id)
    const summary = h(
      'dl',
      { class: 'stats', id: 'webhook-health' },
      h('dt', {}, 'State'),
      h('dd', {}, w.is_active ? 'active' : `disabled — ${w.disabled_reason ?? 'no reason'}`),
      h('dt', {}, 'Consecutive failures'),
      h('dd', {}, String(w.consecutive_failures)),
      h('dt', {}, 'Success (24 h)'),
      h('dd', {}, hl?.success_rate === null || !hl ? '—' : `${Math.round(hl.success_rate * 100)}% of ${hl.attempts_24h}`),
      h('dt', {}, 'Last error'),
      h('dd', { id: 'webhook-last-error' }, hl?.last_error ? `${hl.last_error} (${ago(hl.last_error_at)})` : '—'),
      h('dt', {}, 'Last success'),
      h('dd', {}, ago(hl?.last_success_at)),
    )
    const actions = h(
      'div',
      { class: 'row' },
      h('button', { type: 'button', id: 'webhook-toggle', onclick: () => void this.patch(w, { is_active: !w.is_active }) }, w.is_active ? 'Disable' : 'Enable'),
      h('button', { type: 'button', id: 'webhook-test', disabled: !w.is_active, onclick: () => void this.test(w) }, 'Send test event'),
      h('button', { type: 'button', id: 'webhook-rotate', onclick: () => void this.rotate(w) }, 'Rotate secret'),
      h('button', { type: 'button', class: 'danger', onclick: () => void this.remove(w) }, 'Delete'),
    )
    const since = h('input', { type: 'datetime-local', id: 'recover-since', required: true, value: localInput(new Date(Date.now() - 3600_000)) }) as HTMLInputElement
    const recover = h(
      'form',
      { class: 'row', id: 'recover-form', onsubmit: (e: Event) => (e.preventDefault(), void this.recover(w, since.value)) },
      field('recover-since', 'Re-deliver every failed delivery since', since),
      h('button', { type: 'submit', disabled: !w.is_active }, 'Recover'),
    )
    const log = h(
      'table',
      { id: 'attempts-table' },
      h('caption', {}, 'Attempt log, newest first'),
      h('thead', {}, h('tr', {}, ...['Time', 'Event', 'Attempt', 'Status', 'Error', 'Duration', 'Response', ''].map((c) => h('th', { scope: 'col' }, c)))),
      h(
        'tbody',
        {},
        ...attempts.map((a) =>
          h(
            'tr',
            { 'data-delivery-id': a.delivery_id, 'data-success': String(a.success) },
            h('td', {}, clock(a.created_at)),
            h('td', {}, a.event_type),
            h('td', {}, String(a.attempt)),
            h('td', {}, h('span', { class: `badge ${a.success ? 'ok' : 'bad'}` }, a.status_code === undefined ? 'no answer' : String(a.status_code))),
            h('td', { class: 'error-text' }, a.error ?? ''),
            h('td', {}, `${a.duration_ms} ms`),
            h('td', {}, a.response_excerpt ? h('details', {}, h('summary', {}, a.response_excerpt.slice(0, 24)), h('pre', {}, a.response_excerpt)) : '—'),
            h('td', {}, a.success ? null : h('button', { type: 'button', class: 'retry', disabled: !w.is_active, onclick: () => void this.retry(w, a.delivery_id) }, 'Retry')),
          ),
        ),
      ),
    )
    const head = h('h3', { tabindex: '-1' }, w.description ? `${w.description} — ${w.url}` : w.url)
    if (editing) {
      // Only the health and log change under the user's cursor.
      this.detail.querySelector('#webhook-health')?.replaceWith(summary)
      this.detail.querySelector('#attempts-table')?.replaceWith(log)
      return
    }
    fill(this.detail, head, summary, actions, h('details', {}, h('summary', {}, 'Edit'), this.form(w)), recover, h('div', { class: 'scroll' }, log))
    this.detail.hidden = false
  }

  /** The create form (w = null) or the edit form of `w`. */
  private form(w: Webhook | null): HTMLFormElement {
    const p = w ? `edit-${w.id.slice(0, 8)}` : 'new'
    const url = h('input', { id: `${p}-url`, type: 'url', required: true, value: w?.url ?? '', placeholder: 'https://example.com/hooks/matric' }) as HTMLInputElement
    const events = h('input', { id: `${p}-events`, required: true, value: w ? w.events.join(', ') : '*', 'aria-describedby': `${p}-events-hint` }) as HTMLInputElement
    const desc = h('input', { id: `${p}-description`, value: w?.description ?? '' }) as HTMLInputElement
    const retries = h('input', { id: `${p}-retries`, type: 'number', min: '0', max: '10', value: String(w?.max_retries ?? 3) }) as HTMLInputElement
    return h(
      'form',
      {
        class: 'webhook-form',
        onsubmit: (e: Event) => {
          e.preventDefault()
          const body = {
            url: url.value.trim(),
            events: events.value.split(',').map((s) => s.trim()).filter(Boolean),
            description: desc.value.trim() || (w ? null : undefined),
            max_retries: Number(retries.value),
          }
          void (w ? this.patch(w, body) : this.create(body))
        },
      },
      field(`${p}-url`, 'URL', url),
      field(`${p}-events`, 'Events', events, 'Comma list: note, job.completed, JobFailed, webhook.disabled, or * (all but queue.status and job.progress)'),
      field(`${p}-description`, 'Description', desc),
      field(`${p}-retries`, 'Retries', retries),
      h('button', { type: 'submit', class: 'primary' }, w ? 'Save' : 'Create endpoint'),
    )
  }

  private showSecret(what: string, secret: string): void {
    fill(
      this.secretBox,
      h('div', { class: 'card secret' }, h('p', {}, `${what} Copy it now: it is not shown again.`), h('code', { id: 'webhook-secret-value' }, secret), h('button', { type: 'button', onclick: () => this.secretBox.replaceChildren() }, 'Done')),
    )
  }

  private async run<T>(what: () => Promise<T>, ok: (r: T) => string | void): Promise<void> {
    try {
      const r = await what()
      const msg = ok(r)
      if (msg) toast(msg)
      await this.refresh()
    } catch (e) {
      toast((e as Error).message, 'error')
    }
  }

  private create(body: Record<string, unknown>): Promise<void> {
    return this.run(
      () => api<Webhook>('POST', '/api/v1/webhooks', body),
      (w) => {
        this.createBox.hidden = true
        this.selectedId = w.id
        this.showSecret('Endpoint created. Its signing secret:', w.secret ?? '')
        return 'Endpoint created'
      },
    )
  }
  private patch(w: Webhook, body: Record<string, unknown>): Promise<void> {
    return this.run(() => api<Webhook>('PATCH', `/api/v1/webhooks/${w.id}`, body), () => 'Saved')
  }
  private test(w: Webhook): Promise<void> {
    return this.run(() => api<{ id: string }>('POST', `/api/v1/webhooks/${w.id}/test`), (d) => `Test delivery …${d.id.slice(-8)} queued`)
  }
  private rotate(w: Webhook): Promise<void> {
    return this.run(
      () => api<{ secret: string; previous_secret_expires_at: string }>('POST', `/api/v1/webhooks/${w.id}/rotate-secret`),
      (r) => this.showSecret(`New secret (the old one keeps signing until ${new Date(r.previous_secret_expires_at).toLocaleString()}):`, r.secret),
    )
  }
  private remove(w: Webhook): Promise<void> {
    if (!confirm(`Delete ${w.url} with its delivery log?`)) return Promise.resolve()
    return this.run(
      () => api('DELETE', `/api/v1/webhooks/${w.id}`),
      () => {
        this.selectedId = null
        this.detail.hidden = true
        return 'Endpoint deleted'
      },
    )
  }
  private retry(w: Webhook, deliveryId: string): Promise<void> {
    return this.run(() => api('POST', `/api/v1/webhooks/${w.id}/deliveries/${deliveryId}/retry`), () => `Delivery …${deliveryId.slice(-8)} re-queued`)
  }
  private recover(w: Webhook, sinceLocal: string): Promise<void> {
    const since = new Date(sinceLocal)
    if (Number.isNaN(since.getTime())) return Promise.resolve(toast('Choose a time to recover from', 'error'))
    return this.run(
      () => api<{ recovered: number }>('POST', `/api/v1/webhooks/${w.id}/recover`, { since: since.toISOString() }),
      (r) => `${r.recovered} failed ${r.recovered === 1 ? 'delivery' : 'deliveries'} re-queued`,
    )
  }
}
