/**
 * `npm run console:screenshots`: starts the app on loopback with some activity (notes, jobs, a healthy and a
 * failing webhook endpoint), opens /console in Debian Chromium and writes docs/images/console-*.png.
 * Needs /usr/bin/chromium (apt-get install -y chromium). Everything stays on 127.0.0.1.
 */
import { join } from 'node:path'
import type { Page } from 'playwright-core'
import { startReceiver } from '../tests/helpers/receiver.ts'
import { startServer } from '../tests/helpers/server.ts'
import { waitFor } from '../tests/helpers/wait.ts'
import { launchBrowser } from '../tests/e2e/lib/browser.ts'

const OUT = join(import.meta.dir, '..', 'docs', 'images')

const server = await startServer({
  env: { MATRIC_WEBHOOK_ALLOW_PRIVATE: 'true', MATRIC_WEBHOOK_RETRY_SCHEDULE_MS: '20,40', MATRIC_WEBHOOK_DISABLE_AFTER: '4', MATRIC_WEBHOOK_CREATE_PER_MINUTE: '100' },
})
const healthy = await startReceiver()
const failing = await startReceiver({ reply: () => new Response('upstream maintenance, try later', { status: 503 }) })
const browser = await launchBrowser()
try {
  const admin = await server.token({ sub: 'ops', memory: '*' })
  const call = async (path: string, body?: unknown, method = body === undefined ? 'GET' : 'POST') => {
    const r = await server.request(path, { token: admin, body, method, headers: { 'x-matric-memory': 'default' } })
    if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${await r.text()}`)
    return r.status === 204 ? null : r.json()
  }
  await call('/api/v1/webhooks', { url: `${healthy.url}/hooks/crm`, events: ['*'], description: 'CRM sync' })
  const bad = (await call('/api/v1/webhooks', { url: `${failing.url}/hooks/search-indexer`, events: ['note'], description: 'Search indexer', max_retries: 1 })) as { id: string }

  // A HotM-style WebSocket client, so the WebSocket figures have something to show.
  const ws = new WebSocket(`${server.wsUrl}?token=${admin}&memory=default`)
  await new Promise((resolve, reject) => ((ws.onopen = resolve), (ws.onerror = reject)))

  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 }, deviceScaleFactor: 1 })
  await ctx.addInitScript((t: string) => sessionStorage.setItem('matric_console_token', t), admin)
  const page = await ctx.newPage()
  await page.goto(`${server.url}/console#live`)
  await page.getByText('live', { exact: true }).waitFor()

  const notes = ['# Release checklist\nShip the console and its screenshots.', 'Webhook recovery runbook: re-deliver failed deliveries since the outage.', 'Latency budget for SSE fan-out.', 'Meeting notes: pager rotation.']
  for (const [i, content] of notes.entries()) await call('/api/v1/notes', { content, tags: i % 2 ? ['ops'] : ['release'] })
  const idle = async () => {
    const st = (await call('/api/v1/jobs/stats')) as { pending: number; running: number }
    return st.pending + st.running === 0
  }
  await waitFor(idle, 'the pipeline to finish', 20_000)
  // An AI revision without MATRIC_INFERENCE_URL fails with a clear error: the Jobs panel shows one failure.
  const first = ((await call('/api/v1/notes?limit=1')) as { notes: { id: string }[] }).notes[0]!
  await call('/api/v1/jobs', { job_type: 'ai_revision', note_id: first.id })
  await waitFor(idle, 'the AI revision to fail', 20_000)
  await waitFor(async () => ((await call(`/api/v1/webhooks/${bad.id}`)) as { is_active: boolean }).is_active === false, 'the failing endpoint to be disabled', 20_000)

  await page.locator('#live-events li[data-type="webhook.disabled"]').first().click()
  await shot(page, 'console-live.png')

  await page.getByRole('tab', { name: 'Overview' }).click()
  await page.locator('#ov-ws').waitFor()
  // Some traffic for a few polls, so the charts have points to draw.
  for (let i = 0; i < 16; i++) {
    await call('/api/v1/notes', { content: `Traffic note ${i}: ${'load '.repeat(i % 5)}`, tags: ['traffic'] })
    await Bun.sleep(250 + (i % 4) * 150)
  }
  await waitFor(idle, 'the traffic to settle', 20_000)
  await Bun.sleep(2100) // one more poll
  await shot(page, 'console-overview.png')

  await page.getByRole('tab', { name: 'Jobs' }).click()
  await page.locator('#jobs-table').waitFor()
  await shot(page, 'console-jobs.png')

  await page.getByRole('tab', { name: 'Webhooks' }).click()
  await page.locator(`tr[data-webhook-id="${bad.id}"] button`).click()
  await page.locator('#attempts-table tbody tr').first().waitFor()
  await shot(page, 'console-webhooks.png', true)

  const phone = await browser.newContext({ viewport: { width: 390, height: 780 }, deviceScaleFactor: 1, isMobile: true, hasTouch: true })
  await phone.addInitScript((t: string) => sessionStorage.setItem('matric_console_token', t), admin)
  const p2 = await phone.newPage()
  await p2.goto(`${server.url}/console#live`)
  await p2.getByText('live', { exact: true }).waitFor()
  await call('/api/v1/notes', { content: 'A note typed on the phone.', tags: ['mobile'] })
  await p2.locator('#live-events li[data-type="note.created"]').first().waitFor()
  await shot(p2, 'console-phone.png')
  ws.close()
  console.log(`wrote ${OUT}/console-{live,overview,jobs,webhooks,phone}.png`)
} finally {
  await browser.close()
  await healthy.stop()
  await failing.stop()
  await server.stop()
}

async function shot(page: Page, name: string, fullPage = false): Promise<void> {
  await page.evaluate("document.getElementById('toasts')?.replaceChildren()") // transient messages
  await page.screenshot({ path: join(OUT, name), fullPage })
}
