import { api, ApiFailure } from './api.ts'
import { ago, fill, h, toast } from './dom.ts'

interface Job {
  id: string
  note_id: string | null
  job_type: string
  status: 'pending' | 'running' | 'completed' | 'failed' | 'cancelled'
  progress_percent: number
  progress_message: string | null
  retry_count: number
  max_retries: number
  error: string | null
  created_at: string
  duration_ms: number | null
}

const POLL_MS = 3000

/**
 * Jobs: the memory's recent jobs with status, progress and errors. The API has no cancel, and no retry of
 * a job in place; "Run again" queues a new job of the same type for the same note (POST /api/v1/jobs, write).
 */
export class JobsPanel {
  private timer: ReturnType<typeof setInterval> | undefined
  private status = ''
  private body: HTMLElement

  constructor(private el: HTMLElement) {
    const select = h(
      'select',
      { id: 'jobs-status', onchange: (e: Event) => ((this.status = (e.target as HTMLSelectElement).value), void this.load()) },
      ...['', 'pending', 'running', 'completed', 'failed', 'cancelled'].map((s) => h('option', { value: s }, s || 'any')),
    )
    this.body = h('div', { class: 'scroll' })
    fill(
      el,
      h('h2', { class: 'sr-only' }, 'Jobs'),
      h('div', { class: 'toolbar' }, h('label', { for: 'jobs-status' }, 'Status '), select, h('button', { type: 'button', onclick: () => void this.load() }, 'Refresh')),
      this.body,
      h('p', { class: 'muted' }, 'Jobs cannot be cancelled through the API; a failed job can be run again as a new job.'),
    )
  }

  show(): void {
    void this.load()
    clearInterval(this.timer)
    this.timer = setInterval(() => void this.load(), POLL_MS)
  }
  hide(): void {
    clearInterval(this.timer)
  }
  reset(): void {
    this.hide()
    this.body.replaceChildren()
  }

  private async load(): Promise<void> {
    try {
      const q = new URLSearchParams({ limit: '50' })
      if (this.status) q.set('status', this.status)
      const { jobs, total } = await api<{ jobs: Job[]; total: number }>('GET', `/api/v1/jobs?${q}`)
      this.render(jobs, total)
    } catch (e) {
      fill(this.body, h('p', { class: 'error', role: 'alert' }, e instanceof ApiFailure ? `Jobs: ${e.message}` : String(e)))
    }
  }

  private render(jobs: Job[], total: number): void {
    if (!jobs.length) return fill(this.body, h('p', { class: 'muted' }, 'No jobs yet.'))
    const rows = jobs.map((j) =>
      h(
        'tr',
        { 'data-job-id': j.id, 'data-status': j.status },
        h('td', {}, j.job_type),
        h('td', {}, h('span', { class: `badge st-${j.status}` }, j.status)),
        h(
          'td',
          { class: 'nowrap' },
          h('progress', { max: '100', value: String(j.progress_percent), 'aria-label': `${j.job_type} progress` }),
          ` ${j.progress_percent}%`,
          j.progress_message ? h('span', { class: 'muted' }, ` ${j.progress_message}`) : null,
        ),
        h('td', { class: 'mono' }, j.note_id ? `…${j.note_id.slice(-8)}` : '—'),
        h('td', { class: 'error-text' }, j.error ?? ''),
        h('td', {}, `${j.retry_count}/${j.max_retries}`),
        h('td', {}, ago(j.created_at)),
        h('td', {}, j.duration_ms === null ? '—' : `${j.duration_ms} ms`),
        h('td', {}, j.status === 'failed' || j.status === 'cancelled' ? h('button', { type: 'button', onclick: () => void this.rerun(j) }, 'Run again') : null),
      ),
    )
    fill(
      this.body,
      h(
        'table',
        { id: 'jobs-table' },
        h('caption', {}, `${jobs.length} of ${total} jobs, newest first`),
        h('thead', {}, h('tr', {}, ...['Type', 'Status', 'Progress', 'Note', 'Error', 'Retries', 'Created', 'Duration', ''].map((c) => h('th', { scope: 'col' }, c)))),
        h('tbody', {}, ...rows),
      ),
    )
  }

  private async rerun(j: Job): Promise<void> {
    try {
      const created = await api<Job>('POST', '/api/v1/jobs', j.note_id ? { job_type: j.job_type, note_id: j.note_id } : { job_type: j.job_type })
      toast(`Queued ${created.job_type} again (job …${created.id.slice(-8)})`)
      await this.load()
    } catch (e) {
      toast((e as Error).message, 'error')
    }
  }
}
