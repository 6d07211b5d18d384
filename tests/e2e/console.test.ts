/**
 * The console (/console) in real Chromium against a server that requires auth: it loads cleanly and offline,
 * signs in with a pasted token, shows REST-created notes live, shows a failing webhook endpoint's last error,
 * retries and recovers deliveries, and hides the webhook panel from a principal without admin.
 */
import { afterAll, afterEach, beforeAll, expect, test } from 'bun:test'
import type { Browser, BrowserContext, Page, Request } from 'playwright-core'
import { startCuttingProxy } from '../doubles/cutting-proxy.ts'
import { startReceiver, type Receiver } from '../helpers/receiver.ts'
import { startServer, type TestServer } from '../helpers/server.ts'
import { waitFor } from '../helpers/wait.ts'
import { launchBrowser, recordConsole, type ConsoleRecord } from './lib/browser.ts'
import { describeE2E } from './lib/gate.ts'
import { PAGES_DIR } from './lib/harness.ts'
import { startNginx } from './lib/nginx.ts'

type Json = Record<string, any>

describeE2E('console in Chromium', () => {
  let server: TestServer
  let browser: Browser
  let admin: string
  const contexts: BrowserContext[] = []
  const receivers: Receiver[] = []

  beforeAll(async () => {
    server = await startServer({
      env: {
        MATRIC_AUTH: 'required',
        MATRIC_WEBHOOK_ALLOW_PRIVATE: 'true',
        MATRIC_WEBHOOK_RETRY_SCHEDULE_MS: '20,40',
        MATRIC_WEBHOOK_POLL_MS: '50',
        MATRIC_WEBHOOK_CREATE_PER_MINUTE: '1000',
      },
    })
    browser = await launchBrowser()
    admin = await server.token({ sub: 'ops', memory: '*' })
  })
  // Each test's pages (their streams and polls) end with it.
  afterEach(async () => {
    for (const c of contexts.splice(0)) await c.close().catch(() => {})
  })
  afterAll(async () => {
    await browser?.close()
    for (const r of receivers) await r.stop()
    await server?.stop()
  })

  interface Opened {
    page: Page
    logs: ConsoleRecord[]
    requests: string[]
  }

  /** A fresh browser context on /console; with `token`, already signed in (sessionStorage), as after a paste. */
  async function open(opts: { token?: string; memory?: string; hash?: string; recordRequests?: boolean } = {}): Promise<Opened> {
    const ctx = await browser.newContext()
    contexts.push(ctx)
    if (opts.token) await ctx.addInitScript((t: string) => sessionStorage.setItem('matric_console_token', t), opts.token)
    const page = await ctx.newPage()
    const logs = recordConsole(page)
    const requests: string[] = []
    if (opts.recordRequests) page.on('request', (r: Request) => void requests.push(r.url()))
    await page.goto(`${server.url}/console${opts.memory ? `?memory=${opts.memory}` : ''}${opts.hash ?? ''}`)
    return { page, logs, requests }
  }

  const live = (page: Page) => page.locator('#live-status[data-state="open"]').waitFor({ timeout: 5000 })

  async function rest(path: string, body?: unknown, memory = 'default', token = admin): Promise<Json> {
    const res = await server.request(path, { token, body, headers: { 'x-matric-memory': memory } })
    expect(res.status).toBeLessThan(300)
    return res.status === 204 ? {} : ((await res.json()) as Json)
  }

  async function receiver(): Promise<Receiver> {
    const r = await startReceiver()
    receivers.push(r)
    return r
  }

  async function attemptLog(id: string): Promise<Json[]> {
    return (await rest(`/api/v1/webhooks/${id}/deliveries?limit=500`)) as unknown as Json[]
  }

  test('loads with no console errors and no request leaving loopback, then signs in with a pasted token', async () => {
    const { page, logs, requests } = await open({ recordRequests: true })
    await page.getByLabel('Token').fill(admin)
    await page.getByRole('button', { name: 'Sign in' }).click()
    await live(page)
    for (const tab of ['Overview', 'Jobs', 'Webhooks']) {
      const t = page.getByRole('tab', { name: tab })
      await t.waitFor()
      await t.click()
      await expect(t.getAttribute('aria-selected')).resolves.toBe('true')
    }
    await page.locator('#webhook-list').getByText(/No webhook endpoints|Endpoints/).waitFor()
    // The token went to sessionStorage (this tab only), never into a URL.
    expect(await page.evaluate(() => sessionStorage.getItem('matric_console_token'))).toBe(admin)
    expect(requests.filter((u) => u.includes(admin))).toEqual([])
    expect(requests.length).toBeGreaterThan(4)
    expect(requests.filter((u) => new URL(u).hostname !== '127.0.0.1')).toEqual([])
    expect(logs.filter((l) => l.type === 'error' || l.type === 'pageerror' || l.type === 'warning')).toEqual([])
  })

  test('keyboard: arrow keys move between tabs', async () => {
    const { page } = await open({ token: admin })
    await live(page)
    await page.getByRole('tab', { name: 'Live events' }).focus()
    await page.keyboard.press('ArrowRight')
    await expect(page.locator(':focus').textContent()).resolves.toBe('Overview')
    await expect(page.getByRole('tab', { name: 'Overview' }).getAttribute('aria-selected')).resolves.toBe('true')
    await page.getByRole('tab', { name: 'Webhooks' }).waitFor()
    await page.keyboard.press('End')
    await expect(page.locator(':focus').textContent()).resolves.toBe('Webhooks')
    await page.keyboard.press('Home')
    await expect(page.locator(':focus').textContent()).resolves.toBe('Live events')
    await expect(page.locator('#panel-live').isVisible()).resolves.toBe(true)
  })

  test('a note created over REST appears in Live events within a second', async () => {
    const { page } = await open({ token: admin })
    await live(page)
    const started = Date.now()
    const note = await rest('/api/v1/notes', { content: 'seen live in the console', tags: ['console'] })
    await page.locator(`#live-events li[data-type="note.created"][data-entity-id="${note.id}"]`).waitFor({ timeout: 1000 })
    expect(Date.now() - started).toBeLessThan(1000)
    // Its JSON on demand.
    await page.locator(`#live-events li[data-type="note.created"][data-entity-id="${note.id}"] button`).click()
    const json = JSON.parse((await page.locator('#live-json').textContent()) ?? '{}') as Json
    expect(json).toMatchObject({ event_type: 'note.created', entity_id: note.id, payload: { type: 'NoteCreated', tags: ['console'] } })
  })

  test('pause holds events and resume shows them; type filters hide a group', async () => {
    const { page } = await open({ token: admin })
    await live(page)
    await page.getByRole('button', { name: 'Pause' }).click()
    const note = await rest('/api/v1/notes', { content: 'held while paused' })
    await page.locator('#live-counts').getByText(/[1-9]\d* held while paused/).waitFor()
    expect(await page.locator(`#live-events li[data-entity-id="${note.id}"]`).count()).toBe(0)
    await page.getByRole('button', { name: 'Resume' }).click()
    await page.locator(`#live-events li[data-type="note.created"][data-entity-id="${note.id}"]`).waitFor({ timeout: 2000 })
    await page.getByRole('checkbox', { name: 'note' }).uncheck()
    expect(await page.locator('#live-events li[data-type^="note."]').count()).toBe(0)
    expect(await page.locator('#live-events li[data-type^="job."]').count()).toBeGreaterThan(0)
  })

  test('a failing endpoint shows its last error, and a retry succeeds once the receiver recovers', async () => {
    const r = await receiver()
    r.reply = () => new Response('maintenance window', { status: 503 })
    const hook = await rest('/api/v1/webhooks', { url: `${r.url}/hooks`, events: ['note.created'], max_retries: 0, description: 'flaky receiver' })
    await rest('/api/v1/notes', { content: 'delivered to a failing endpoint' })
    const [failed] = await waitFor(async () => {
      const log = await attemptLog(hook.id)
      return log.length ? log : null
    }, 'the failed attempt')
    expect(failed).toMatchObject({ success: false, status_code: 503 })

    const { page } = await open({ token: admin, hash: '#webhooks' })
    const row = page.locator(`#webhooks-table tr[data-webhook-id="${hook.id}"]`)
    await row.locator('.last-error').getByText('receiver answered HTTP 503').waitFor({ timeout: 5000 })
    await row.getByRole('button').click()
    await page.locator('#webhook-last-error').getByText('receiver answered HTTP 503').waitFor()
    await page.locator('#attempts-table').getByText('maintenance window').first().waitFor() // the response excerpt

    r.reply = () => new Response('ok')
    await page.locator(`#attempts-table tr[data-delivery-id="${failed!.delivery_id}"]`).getByRole('button', { name: 'Retry' }).click()
    await page.locator(`#attempts-table tr[data-delivery-id="${failed!.delivery_id}"][data-success="true"]`).waitFor({ timeout: 8000 })
    const requests = await r.waitForRequests(2)
    expect(requests.map((q) => q.headers['webhook-id'])).toEqual([failed!.delivery_id, failed!.delivery_id])
    expect((await attemptLog(hook.id))[0]).toMatchObject({ delivery_id: failed!.delivery_id, success: true, status_code: 200 })
  })

  test('recover re-delivers exactly the failed deliveries', async () => {
    const r = await receiver()
    // The receiver fails the deliveries of two of the four events (chosen by note id).
    const failing = new Set(['n-1', 'n-3'])
    r.reply = (req) => (failing.has((JSON.parse(req.body) as Json).payload.note_id) ? new Response('down', { status: 500 }) : new Response('ok'))
    const hook = await rest('/api/v1/webhooks', { url: `${r.url}/recover`, events: ['note.deleted'], max_retries: 0 })
    for (const id of ['n-1', 'n-2', 'n-3', 'n-4']) await rest('/api/v1/events', { memory: 'default', payload: { type: 'NoteDeleted', note_id: id } })
    const first = await waitFor(async () => {
      const log = await attemptLog(hook.id)
      return log.length >= 4 ? log : null
    }, 'four first attempts')
    const failedIds = first.filter((a) => !a.success).map((a) => a.delivery_id as string).sort()
    expect(failedIds).toHaveLength(2)

    failing.clear()
    const { page } = await open({ token: admin, hash: '#webhooks' })
    await page.locator(`#webhooks-table tr[data-webhook-id="${hook.id}"]`).getByRole('button').click()
    await page.getByLabel('Re-deliver every failed delivery since').waitFor()
    await page.getByRole('button', { name: 'Recover', exact: true }).click()
    await page.getByRole('status').getByText('2 failed deliveries re-queued').waitFor({ timeout: 5000 })
    const log = await waitFor(async () => {
      const l = await attemptLog(hook.id)
      return l.length >= 6 ? l : null
    }, 'the re-delivered attempts')
    const retried = log.slice(0, 2)
    expect(retried.map((a) => a.delivery_id).sort()).toEqual(failedIds)
    expect(retried.every((a) => a.success)).toBe(true)
    // Nothing else is waiting: the succeeded deliveries were not sent again.
    const summary = await rest('/api/v1/system/summary')
    expect(summary.webhooks.endpoints.find((e: Json) => e.webhook_id === hook.id)).toMatchObject({ waiting: 0, failed: 0 })
    expect(r.requests).toHaveLength(6)
  })

  test('a principal without admin sees no webhook panel', async () => {
    await rest('/api/v1/webhooks', { url: 'http://127.0.0.1:9/never', events: ['note'] })
    const reader = await server.token({ sub: 'reader', scope: 'read write', memory: 'default' })
    const { page } = await open({ token: reader })
    const refused = page.waitForResponse((res) => res.url().endsWith('/api/v1/webhooks') && res.request().method() === 'GET')
    await live(page)
    expect((await refused).status()).toBe(403)
    await page.getByRole('tab', { name: 'Jobs' }).waitFor()
    expect(await page.getByRole('tab', { name: 'Webhooks' }).isHidden()).toBe(true)
    expect(await page.locator('#panel-webhooks').isHidden()).toBe(true)
    expect(await page.locator('#panel-webhooks').getByText('127.0.0.1:9').count()).toBe(0)
    await page.getByRole('tab', { name: 'Overview' }).click()
    await page.locator('#overview-limited').waitFor()
    // Live events still work for a reader.
    const note = await rest('/api/v1/notes', { content: 'a reader sees this' })
    await page.getByRole('tab', { name: 'Live events' }).click()
    await page.locator(`#live-events li[data-type="note.created"][data-entity-id="${note.id}"]`).waitFor({ timeout: 2000 })
  })

  test('a tag-restricted principal sees only the events of its notes', async () => {
    const tagged = await server.token({ sub: 'tagged', scope: 'read', memory: 'default', tags: ['team-a'] })
    const { page } = await open({ token: tagged })
    await live(page)
    const other = await rest('/api/v1/notes', { content: 'team b only', tags: ['team-b'] })
    const mine = await rest('/api/v1/notes', { content: 'team a note', tags: ['team-a'] })
    await page.locator(`#live-events li[data-type="note.created"][data-entity-id="${mine.id}"]`).waitFor({ timeout: 2000 })
    expect(await page.locator(`#live-events li[data-entity-id="${other.id}"]`).count()).toBe(0)
  })

  test('webhooks are managed from the panel: create (secret shown once), edit, test event, rotate, disable', async () => {
    const r = await receiver()
    const { page } = await open({ token: admin, hash: '#webhooks' })
    await page.getByRole('button', { name: 'New endpoint' }).click()
    await page.locator('#new-url').fill(`${r.url}/made-in-the-console`)
    await page.locator('#new-events').fill('note.created, webhook')
    await page.locator('#new-description').fill('made by hand')
    await page.getByRole('button', { name: 'Create endpoint' }).click()
    const secret = (await page.locator('#webhook-secret-value').textContent())!
    expect(secret).toMatch(/^whsec_/)
    const list = (await rest('/api/v1/webhooks')) as unknown as Json[]
    const hook = list.find((w) => w.url === `${r.url}/made-in-the-console`)!
    expect(hook).toMatchObject({ events: ['note.created', 'webhook'], description: 'made by hand', is_active: true })

    await page.locator(`#webhooks-table tr[data-webhook-id="${hook.id}"]`).getByRole('button').click()
    await page.getByText('Edit', { exact: true }).click()
    const prefix = `edit-${hook.id.slice(0, 8)}`
    await page.locator(`#${prefix}-retries`).fill('5')
    await page.getByRole('button', { name: 'Save' }).click()
    await waitFor(async () => (await rest(`/api/v1/webhooks/${hook.id}`)).max_retries === 5, 'the edit to be saved')

    await page.getByRole('button', { name: 'Send test event' }).click()
    const [test] = await r.waitForRequests(1, 'the test delivery')
    expect(JSON.parse(test!.body)).toMatchObject({ event_type: 'queue.status' })
    // The secret shown at creation signs it.
    const expected = new Bun.CryptoHasher('sha256', secret).update(test!.body).digest('hex')
    expect(test!.headers['x-matric-signature']).toBe(`sha256=${expected}`)

    await page.getByRole('button', { name: 'Rotate secret' }).click()
    await page.getByText(/New secret \(the old one keeps signing until/).waitFor()
    expect(await page.locator('#webhook-secret-value').textContent()).toMatch(/^whsec_/)
    expect(await page.locator('#webhook-secret-value').textContent()).not.toBe(secret)

    await page.locator('#webhook-toggle').click()
    await page.locator(`#webhooks-table tr[data-webhook-id="${hook.id}"]`).getByText('disabled').waitFor()
    expect(await rest(`/api/v1/webhooks/${hook.id}`)).toMatchObject({ is_active: false, disabled_reason: 'disabled by ops' })
  })

  test('after the connection drops, Live events resumes after the last event it had: nothing missed, nothing twice', async () => {
    const proxy = startCuttingProxy(server.url)
    try {
      const ctx = await browser.newContext()
      contexts.push(ctx)
      await ctx.addInitScript((t: string) => sessionStorage.setItem('matric_console_token', t), admin)
      const page = await ctx.newPage()
      await page.goto(`${proxy.url}/console`)
      await live(page)
      const before = await rest('/api/v1/notes', { content: 'before the drop' })
      await page.locator(`#live-events li[data-type="note.created"][data-entity-id="${before.id}"]`).waitFor({ timeout: 2000 })
      proxy.cut()
      await page.locator('#live-status[data-state="reconnecting"]').waitFor({ timeout: 5000 })
      const during = await rest('/api/v1/notes', { content: 'while the connection was down' })
      // Reconnects by itself (after about a second) and replays what it missed from the event log.
      await page.locator(`#live-events li[data-type="note.created"][data-entity-id="${during.id}"]`).waitFor({ timeout: 8000 })
      expect(await page.locator('#live-status').textContent()).toContain('resumed after')
      const ids = await page.locator('#live-events li[data-event-id]').evaluateAll((els) => els.map((e) => e.getAttribute('data-event-id')))
      expect(ids.length).toBe(new Set(ids).size)
      expect(await page.locator(`#live-events li[data-type="note.created"][data-entity-id="${before.id}"]`).count()).toBe(1)
    } finally {
      await proxy.stop()
    }
  })

  test('through the reference nginx config: the page, its assets and the live stream', async () => {
    const nginx = await startNginx({ upstreamPort: server.port, staticRoot: PAGES_DIR })
    try {
      const ctx = await browser.newContext()
      contexts.push(ctx)
      await ctx.addInitScript((t: string) => sessionStorage.setItem('matric_console_token', t), admin)
      const page = await ctx.newPage()
      const logs = recordConsole(page)
      await page.goto(`${nginx.url}/console`)
      await live(page)
      const note = await rest('/api/v1/notes', { content: 'through nginx' })
      await page.locator(`#live-events li[data-type="note.created"][data-entity-id="${note.id}"]`).waitFor({ timeout: 2000 })
      expect(logs.filter((l) => l.type === 'error' || l.type === 'pageerror')).toEqual([])
    } finally {
      await nginx.stop()
    }
  })

  test('local mode (MATRIC_AUTH=off): no sign-in, every panel, the stream live', async () => {
    const local = await startServer({ env: { MATRIC_AUTH: 'off' } })
    try {
      const ctx = await browser.newContext()
      contexts.push(ctx)
      const page = await ctx.newPage()
      const logs = recordConsole(page)
      await page.goto(`${local.url}/console`)
      await live(page)
      expect(await page.locator('#signin').isHidden()).toBe(true)
      await page.getByRole('tab', { name: 'Webhooks' }).waitFor()
      expect(await page.locator('#who').textContent()).toContain('Local mode')
      expect(logs.filter((l) => l.type === 'error' || l.type === 'pageerror')).toEqual([])
      await ctx.close()
    } finally {
      await local.stop()
    }
  })

  test('the matric_token cookie: Live events stream with it (REST takes bearer tokens only, so the other tabs stay hidden)', async () => {
    const reader = await server.token({ sub: 'cookie-user', scope: 'read', memory: 'default' })
    const ctx = await browser.newContext()
    contexts.push(ctx)
    await ctx.addCookies([{ name: 'matric_token', value: reader, url: server.url, httpOnly: true, sameSite: 'Strict' }])
    const page = await ctx.newPage()
    await page.goto(`${server.url}/console`)
    await page.getByRole('button', { name: 'Use my matric_token cookie' }).click()
    await live(page)
    const note = await rest('/api/v1/notes', { content: 'seen with the cookie' })
    await page.locator(`#live-events li[data-type="note.created"][data-entity-id="${note.id}"]`).waitFor({ timeout: 2000 })
    for (const tab of ['Overview', 'Jobs', 'Webhooks']) expect(await page.getByRole('tab', { name: tab }).isHidden()).toBe(true)
    expect(await page.evaluate(() => sessionStorage.getItem('matric_console_token'))).toBeNull()
  })

  test('accessible and phone-sized: every control is named, and no panel overflows a 390 px screen', async () => {
    await rest('/api/v1/webhooks', { url: 'http://127.0.0.1:9/a11y', events: ['note'], description: 'a11y check' })
    const ctx = await browser.newContext({ viewport: { width: 390, height: 780 }, isMobile: true, hasTouch: true })
    contexts.push(ctx)
    await ctx.addInitScript((t: string) => sessionStorage.setItem('matric_console_token', t), admin)
    const page = await ctx.newPage()
    await page.goto(`${server.url}/console`)
    await live(page)
    await page.getByRole('tab', { name: 'Webhooks' }).waitFor()
    for (const tab of ['Live events', 'Overview', 'Jobs', 'Webhooks']) {
      await page.getByRole('tab', { name: tab }).click()
      if (tab === 'Overview') await page.locator('#ov-ws').waitFor()
      if (tab === 'Jobs') await page.locator('#jobs-table, #panel-jobs .muted').first().waitFor()
      if (tab === 'Webhooks') {
        await page.locator('#webhooks-table button.link').first().click()
        await page.locator('#attempts-table').waitFor()
      }
      // Controls without an accessible name (label, aria-label or text), among the visible ones.
      const unnamed = await page.locator('input:visible, select:visible, textarea:visible, button:visible').evaluateAll((els) =>
        els
          .filter((e) => {
            const id = e.getAttribute('id')
            const labelled = (id && e.ownerDocument.querySelector(`label[for="${id}"]`)) || e.closest('label')
            return !labelled && !e.getAttribute('aria-label') && !(e.textContent ?? '').trim()
          })
          .map((e) => e.outerHTML.slice(0, 80)),
      )
      expect({ tab, unnamed }).toEqual({ tab, unnamed: [] })
      // The page itself never scrolls sideways (wide tables scroll inside their own box).
      const width = await page.evaluate('[document.documentElement.scrollWidth, window.innerWidth]')
      expect({ tab, width }).toEqual({ tab, width: [390, 390] })
    }
  })
})
