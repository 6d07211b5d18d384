/**
 * The reference nginx config (deploy/nginx/matric.conf) itself: it renders with only the upstream, port
 * and root substituted, `nginx -t` accepts it, and the proxy behaves as docs/deploy.md says (what goes
 * to the server, what is the single-page app, SSE headers and frames, body limits). Also the test page's
 * own compatibility gate and schema check, table-driven in the browser, so the end-to-end tests that
 * rely on them cannot pass vacuously.
 */
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Browser, Page } from 'playwright-core'
import { startServer, type TestServer } from '../helpers/server.ts'
import { SseClient } from '../helpers/sse-client.ts'
import { waitFor } from '../helpers/wait.ts'
import { launchBrowser } from './lib/browser.ts'
import { describeE2E } from './lib/gate.ts'
import { api, PAGES_DIR } from './lib/harness.ts'
import { NGINX_BIN, REFERENCE_CONF, renderReferenceConfig, startNginx, type RunningNginx } from './lib/nginx.ts'

const SOURCE = readFileSync(REFERENCE_CONF, 'utf8')

describeE2E('reference nginx config', () => {
  let server: TestServer
  let nginx: RunningNginx
  let browser: Browser
  let page: Page

  beforeAll(async () => {
    server = await startServer({ env: { MATRIC_AUTH: 'off' } })
    nginx = await startNginx({ upstreamPort: server.port, staticRoot: PAGES_DIR })
    browser = await launchBrowser()
    page = await browser.newPage()
    await page.goto(`${nginx.url}/?mode=none`)
  })
  afterAll(async () => {
    await browser?.close()
    await nginx?.stop()
    await server?.stop()
  })

  test('rendering substitutes exactly the upstream, the listen port and the root; nothing else changes', () => {
    const out = renderReferenceConfig({ upstreamPort: 4567, listenPort: 8089, staticRoot: '/tmp/hotm dist' }, SOURCE)
    expect(out).toContain('server 127.0.0.1:4567;')
    expect(out).toContain('listen 127.0.0.1:8089;')
    expect(out).toContain('root "/tmp/hotm dist";')
    const changed = SOURCE.split('\n').filter((line, i) => line !== out.split('\n')[i])
    expect(changed.map((l) => l.trim())).toEqual(['server 127.0.0.1:3000;', 'listen 80;', 'root /srv/hotm/dist;'])
    // A second server or listen line would make the substitution ambiguous: refused, not guessed.
    expect(() => renderReferenceConfig({ upstreamPort: 1, listenPort: 2, staticRoot: '/x' }, SOURCE.replace('listen 80;', 'listen 80;\n    listen 8080;'))).toThrow('expected exactly one `listen`, found 2')
    expect(() => renderReferenceConfig({ upstreamPort: 1, listenPort: 2, staticRoot: '/x' }, SOURCE.replace(/^\s*root .*$/m, ''))).toThrow('expected exactly one `root`, found 0')
  })

  test('nginx -t accepts the rendered reference config', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'matric-nginx-t-'))
    try {
      writeFileSync(join(dir, 'matric.conf'), renderReferenceConfig({ upstreamPort: 3000, listenPort: 8089, staticRoot: PAGES_DIR }))
      writeFileSync(
        join(dir, 'nginx.conf'),
        `pid ${dir}/nginx.pid;\nerror_log ${dir}/error.log;\nevents {}\nhttp {\n  access_log off;\n${['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `  ${t}_temp_path ${dir}/${t};`).join('\n')}\n  include ${dir}/matric.conf;\n}\n`,
      )
      const p = Bun.spawnSync([NGINX_BIN, '-t', '-p', dir, '-e', `${dir}/error.log`, '-c', `${dir}/nginx.conf`], { stderr: 'pipe' })
      expect({ code: p.exitCode, stderr: p.stderr.toString() }).toMatchObject({ code: 0, stderr: expect.stringContaining('syntax is ok') as unknown as string })
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  test('API paths reach the server; everything else is the single-page app', async () => {
    const health = await api<{ status: string }>(nginx.url, '/health')
    expect(health.status).toBe(200)
    expect(health.body.status).toBeDefined()
    expect((await fetch(`${nginx.url}/metrics`)).headers.get('content-type')).toContain('text/plain')
    const openapi = await api<{ openapi: string }>(nginx.url, '/openapi.json')
    expect(openapi.body.openapi).toMatch(/^3\./)
    expect((await fetch(`${nginx.url}/docs`)).status).toBe(200)
    expect((await fetch(`${nginx.url}/docs/assets/swagger-ui.css`)).headers.get('content-type')).toContain('text/css')
    // Unknown API paths are answered by the server (its JSON 404), never by the SPA fallback.
    for (const path of ['/api/v1/no-such-route', '/asyncapi.json']) {
      const r = await fetch(nginx.url + path)
      expect([path, r.headers.get('content-type')]).toEqual([path, expect.stringContaining('application/json') as unknown as string])
    }
    // MCP and the console belong to the server too (whatever it answers there, it is not HotM's page).
    for (const path of ['/mcp', '/console']) expect([path, await (await fetch(nginx.url + path)).text()]).not.toEqual([path, expect.stringContaining('hotm-client.js') as unknown as string])
    // Client-side routes get index.html, revalidated on every load.
    const spa = await fetch(`${nginx.url}/notes/some-client-route`)
    expect(spa.status).toBe(200)
    expect(await spa.text()).toContain('<script type="module" src="./hotm-client.js">')
    expect(spa.headers.get('cache-control')).toBe('no-cache')
    // Missing hashed assets are 404, not index.html (a stale tab must not parse HTML as JavaScript).
    expect((await fetch(`${nginx.url}/assets/index-deadbeef.js`)).status).toBe(404)
    const js = await fetch(`${nginx.url}/hotm-client.js`)
    expect(js.headers.get('content-type')).toContain('javascript')
  })

  test('a body over the server limit gets the server JSON 413, not an nginx page', async () => {
    const r = await fetch(`${nginx.url}/api/v1/notes`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ content: 'x'.repeat(1_100_000) }) })
    expect(r.status).toBe(413)
    expect(r.headers.get('content-type')).toContain('application/json')
  })

  test('SSE through nginx: the stream headers pass and a frame arrives while the response stays open', async () => {
    const sse = await SseClient.open(`${nginx.url}/api/v1/events?types=note`)
    try {
      expect(sse.status).toBe(200)
      expect(sse.res.headers.get('content-type')).toContain('text/event-stream')
      expect(sse.res.headers.get('cache-control')).toContain('no-cache')
      const created = await api<{ id: string }>(nginx.url, '/api/v1/notes', { body: { content: 'through the proxy' } })
      expect(created.status).toBe(201)
      const frame = await waitFor(() => sse.frames.find((f) => f.event === 'note.created'), 'note.created through nginx', 5000)
      expect(JSON.parse(frame.data!).entity_id).toBe(created.body.id)
    } finally {
      sse.close()
    }
  })

  test('every link of the compatibility document answers through nginx', async () => {
    const doc = (await (await fetch(`${nginx.url}/api/v1/system/compatibility`)).json()) as { links: Record<string, string> }
    expect(Object.keys(doc.links).sort()).toEqual(['asyncapi', 'health', 'openapi', 'streaming_health'])
    for (const [name, link] of Object.entries(doc.links)) {
      const r = await fetch(new URL(link, nginx.url))
      expect([name, link, r.status, r.headers.get('content-type')]).toEqual([name, link, 200, expect.stringContaining('application/json') as unknown as string])
    }
  })

  test("the page's compatibility gate refuses what HotM refuses", async () => {
    const apiBlock = (version: string, min = '2026.7.0') => ({ name: 'fortemi', version, minimum_hotm_enterprise_client: min })
    const ok = { schema_version: 1, contract_revision: '2026-07-06', api: apiBlock('2026.7.3'), auth: { required: false, mode: 'anonymous_local' } }
    const cases: [string, unknown, string[]][] = [
      ['accepted (anonymous local)', ok, []],
      ['accepted (auth, claim contract 1)', { ...ok, auth: { required: true, mode: 'oauth', claim_contract_version: '1' } }, []],
      ['pre-release suffix ignored', { ...ok, api: apiBlock('2026.12.0-rc.1') }, []],
      ['wildcard version', { ...ok, api: apiBlock('2026.7.x') }, ['api.version 2026.7.x']],
      ['leading zero', { ...ok, api: apiBlock('2026.07.0') }, ['api.version 2026.07.0']],
      ['minimum client newer than this one', { ...ok, api: apiBlock('2026.7.3', '2026.8.0') }, ['api.minimum_hotm_enterprise_client 2026.8.0']],
      ['minimum client missing', { ...ok, api: { name: 'fortemi', version: '2026.7.3' } }, ['api.minimum_hotm_enterprise_client undefined']],
      ['schema 2', { ...ok, schema_version: 2 }, ['schema_version 2']],
      ['other revision', { ...ok, contract_revision: '2026-08-01' }, ['contract_revision 2026-08-01']],
      ['other API', { ...ok, api: { ...apiBlock('2026.7.0'), name: 'matric' } }, ['api.name matric']],
      ['too old', { ...ok, api: apiBlock('2026.6.9') }, ['api.version 2026.6.9']],
      ['too new', { ...ok, api: apiBlock('2027.0.0') }, ['api.version 2027.0.0']],
      ['not semver', { ...ok, api: apiBlock('latest') }, ['api.version latest']],
      ['auth without claim contract', { ...ok, auth: { required: true, mode: 'oauth' } }, ['auth.claim_contract_version undefined']],
      ['no auth, not anonymous_local', { ...ok, auth: { required: false, mode: 'oauth' } }, ['auth.mode oauth']],
      ['no auth block', { ...ok, auth: undefined }, ['auth.required missing']],
      ['not an object', 'fortemi', ['not a JSON object']],
    ]
    for (const [name, doc, problems] of cases) {
      const got = await page.evaluate((d) => (globalThis as unknown as { __hotmTest: { compatibilityProblems(d: unknown): string[] } }).__hotmTest.compatibilityProblems(d), doc)
      expect([name, got]).toEqual([name, problems])
    }
  })

  test("the page's schema check turns what HotM would drop into Unknown", async () => {
    const env = (event_type: string, payload: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({ event_id: '01a230e6-f4a3-75aa-8e92-9cbdd7fc6293', event_type, payload, ...extra })
    const job = '0b6f3a4e-1c2d-4e5f-8a9b-0c1d2e3f4a5b'
    const cases: [string, unknown, string | null][] = [
      ['conforming job.queued', env('job.queued', { type: 'JobQueued', job_id: job, job_type: 'Embedding' }), null],
      ['non-UUID event_id', { ...env('job.queued', { type: 'JobQueued', job_id: job, job_type: 'Embedding' }), event_id: 'evt-1' }, 'event_id evt-1'],
      ['non-UUID correlation_id', env('job.queued', { type: 'JobQueued', job_id: job, job_type: 'Embedding' }, { correlation_id: 'req-42' }), 'correlation_id req-42'],
      ['payload type mismatch', env('job.queued', { type: 'JobStarted', job_id: job, job_type: 'Embedding' }), 'payload type JobStarted'],
      ['progress missing', env('job.progress', { type: 'JobProgress', job_id: job, progress_percent: 5 }), 'missing progress'],
      ['progress not an integer', env('job.progress', { type: 'JobProgress', job_id: job, progress: 2.5 }), 'progress 2.5'],
      ['null note_id allowed', env('job.started', { type: 'JobStarted', job_id: job, job_type: 'Linking', note_id: null }), null],
      ['tags must be strings', env('note.created', { type: 'NoteCreated', note_id: job, tags: [1] }), 'tags [1]'],
      ['bare WebSocket frame checked too', { type: 'JobFailed', job_id: job, job_type: 'AiRevision' }, 'missing error'],
      ['types outside the rules pass', env('events.lagged', { dropped_count: 3 }), null],
    ]
    for (const [name, input, reason] of cases) {
      const got = await page.evaluate((e) => (globalThis as unknown as { __hotmTest: { nonConformance(e: unknown): string | null } }).__hotmTest.nonConformance(e), input)
      expect([name, got]).toEqual([name, reason])
    }
  })
})
