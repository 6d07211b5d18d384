/**
 * The console's entry point: sign-in, memory choice, tabs. Each panel asks the API with this principal's
 * credentials and shows what it answers; a 403 hides a panel instead of guessing from the token.
 */
import { api, ApiFailure, session, setMemory, setToken, tokenMemories } from './api.ts'
import { byId, fill, h } from './dom.ts'
import { JobsPanel } from './jobs.ts'
import { LivePanel } from './live.ts'
import { OverviewPanel } from './overview.ts'
import { WebhooksPanel } from './webhooks.ts'

export interface Panel {
  /** Called when the tab is shown (and again after a memory switch). */
  show(): void
  hide(): void
}

const TABS = ['live', 'overview', 'jobs', 'webhooks'] as const
type Tab = (typeof TABS)[number]

let panels: Record<Tab, Panel & { reset?(): void }> | null = null
let current: Tab = 'live'
/** With the cookie only, REST calls carry no credentials: the Live panel alone works (docs/console.md). */
let cookieOnly = false

function tabButton(t: Tab): HTMLButtonElement {
  return byId<HTMLButtonElement>(`tab-${t}`)
}

function select(t: Tab, focus = false): void {
  current = t
  for (const x of TABS) {
    const on = x === t
    tabButton(x).setAttribute('aria-selected', String(on))
    tabButton(x).tabIndex = on ? 0 : -1
    byId(`panel-${x}`).hidden = !on
    if (!on) panels?.[x].hide()
  }
  if (focus) tabButton(t).focus()
  panels?.[t].show()
  history.replaceState(null, '', `#${t}`)
}

function visibleTabs(): Tab[] {
  return TABS.filter((t) => !tabButton(t).hidden)
}

function setupTabs(): void {
  for (const t of TABS) tabButton(t).addEventListener('click', () => select(t))
  byId('tabs').addEventListener('keydown', (e) => {
    const tabs = visibleTabs()
    const i = tabs.indexOf(current)
    let next: Tab | undefined
    if (e.key === 'ArrowRight') next = tabs[(i + 1) % tabs.length]
    else if (e.key === 'ArrowLeft') next = tabs[(i - 1 + tabs.length) % tabs.length]
    else if (e.key === 'Home') next = tabs[0]
    else if (e.key === 'End') next = tabs[tabs.length - 1]
    if (next) {
      e.preventDefault()
      select(next, true)
    }
  })
}

/** Whether this server requires a token (its public discovery document says so); asked once. */
let authRequired: Promise<boolean> | null = null
function requiresAuth(): Promise<boolean> {
  authRequired ??= fetch('/api/v1/system/compatibility', { cache: 'no-store' })
    .then((r) => r.json() as Promise<{ auth?: { required?: boolean } }>)
    .then((d) => d.auth?.required !== false)
    .catch(() => true)
  return authRequired
}

/** Shows the panels a principal may use: REST answers decide (401 → sign in again, 403 → hidden). */
async function enter(): Promise<void> {
  const who = byId('who')
  // Without a token (and auth required) there is nothing to ask yet: sign in first, no failing request.
  if (!session.token && !cookieOnly && (await requiresAuth())) return showSignin()
  const canRest = !cookieOnly
  if (canRest) {
    try {
      await api('GET', '/api/v1/jobs/stats')
    } catch (e) {
      if (e instanceof ApiFailure && e.status === 401) {
        setToken(null)
        return showSignin(`Token refused: ${e.message}`)
      }
      // 403 on this memory: still enter; every panel reports what it is refused.
    }
  }
  byId('signin').hidden = true
  byId('tabs').hidden = false
  byId('memory-form').hidden = false
  byId('sign-out').hidden = false
  const memInput = byId<HTMLInputElement>('memory')
  memInput.value = session.memory
  fill(byId('memories'), ...tokenMemories(session.token).map((m) => h('option', { value: m })))
  fill(who, session.token ? 'Signed in with a token' : cookieOnly ? 'Signed in with the matric_token cookie (Live events only)' : 'Local mode (no token needed)')
  panels ??= {
    live: new LivePanel(byId('panel-live'), () => void (panels!.webhooks as WebhooksPanel).refresh()),
    overview: new OverviewPanel(byId('panel-overview')),
    jobs: new JobsPanel(byId('panel-jobs')),
    webhooks: new WebhooksPanel(byId('panel-webhooks')),
  }
  tabButton('overview').hidden = !canRest
  tabButton('jobs').hidden = !canRest
  // Webhooks are admin-only: the tab appears only when the API lists them for this principal.
  tabButton('webhooks').hidden = true
  // The stream runs whatever the tab, so a webhook.disabled alert is never missed.
  panels.live.show()
  const wanted = location.hash.slice(1) as Tab
  select(TABS.includes(wanted) && !tabButton(wanted).hidden ? wanted : current)
  if (canRest)
    api('GET', '/api/v1/webhooks')
      .then(() => {
        tabButton('webhooks').hidden = false
        if (wanted === 'webhooks') select('webhooks')
      })
      .catch(() => {
        tabButton('webhooks').hidden = true
        if (current === 'webhooks') select('live')
      })
}

function showSignin(message = ''): void {
  for (const x of TABS) {
    byId(`panel-${x}`).hidden = true
    panels?.[x].hide()
  }
  byId('tabs').hidden = true
  byId('memory-form').hidden = true
  byId('sign-out').hidden = true
  byId('who').textContent = ''
  byId('signin').hidden = false
  byId('signin-error').textContent = message
  byId<HTMLTextAreaElement>('token').focus()
}

function setup(): void {
  setupTabs()
  byId<HTMLFormElement>('signin-form').addEventListener('submit', (e) => {
    e.preventDefault()
    const token = byId<HTMLTextAreaElement>('token').value.trim().replace(/^Bearer\s+/i, '')
    if (!token) return
    cookieOnly = false
    setToken(token)
    const mems = tokenMemories(token)
    if (mems.length && !mems.includes(session.memory)) setMemory(mems[0]!)
    byId<HTMLTextAreaElement>('token').value = ''
    void enter()
  })
  byId('use-cookie').addEventListener('click', () => {
    cookieOnly = true
    setToken(null)
    void enter()
  })
  byId('sign-out').addEventListener('click', () => {
    setToken(null)
    cookieOnly = false
    for (const t of TABS) panels?.[t].reset?.()
    showSignin()
  })
  byId<HTMLFormElement>('memory-form').addEventListener('submit', (e) => {
    e.preventDefault()
    const v = byId<HTMLInputElement>('memory').value.trim()
    if (!v || v === session.memory) return
    setMemory(v)
    for (const t of TABS) panels?.[t].reset?.()
    void enter()
  })
  const q = new URLSearchParams(location.search).get('memory')
  if (q) setMemory(q)
  void enter()
}

setup()
