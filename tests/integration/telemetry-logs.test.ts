/**
 * README.md#configuration, docs/operations.md logs: JSON lines, payloads only at debug, and never a token or secret — even at debug, with
 * secrets in the environment, tokens in headers and query strings, and secrets typed into note content.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { signToken } from '../../src/auth/sign.ts'
import { createLogger } from '../../src/telemetry/log.ts'
import { startInference, type InferenceDouble } from '../doubles/inference.ts'
import { spawnServer } from '../helpers/process.ts'
import { startServer, type TestServer } from '../helpers/server.ts'
import { waitFor } from '../helpers/wait.ts'
import { WsClient } from '../helpers/ws-client.ts'

const JWT_SECRET = 'jwt-secret-NEVER-IN-LOGS-7d1f0c3b9a52e8'
const API_KEY = 'sk-test-NEVER-IN-LOGS-AbCdEf0123456789'
const WHSEC_BODY = 'MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw4Ql3WAHb0kE='
const WHSEC = `whsec_${WHSEC_BODY}`
const OTLP_KEY = 'otlp-header-NEVER-IN-LOGS-42'

interface Rec {
  time: string
  level: string
  msg: string
  [k: string]: unknown
}

function assertClean(lines: string[], forbidden: string[]): void {
  for (const line of lines) for (const f of forbidden) if (line.includes(f)) throw new Error(`log line leaks ${f.slice(0, 12)}…: ${line}`)
}

describe('in-process server at debug with a captured sink', () => {
  const lines: string[] = []
  let s: TestServer
  let inference: InferenceDouble
  let admin: string
  let foreign: string
  let expired: string
  const records = () => lines.map((l) => JSON.parse(l) as Rec)

  beforeAll(async () => {
    inference = await startInference()
    // A misbehaving upstream that echoes the credential it was sent.
    inference.setDefault((req) => ({ status: 400, body: { error: { message: `Incorrect API key provided: ${req.authorization}` } } }))
    s = await startServer({
      env: {
        MATRIC_JWT_SECRET: JWT_SECRET,
        MATRIC_LOG_LEVEL: 'debug',
        MATRIC_INFERENCE_URL: inference.url,
        MATRIC_INFERENCE_API_KEY: API_KEY,
        MATRIC_WEBHOOK_ALLOW_PRIVATE: 'true',
        OTEL_EXPORTER_OTLP_HEADERS: `x-api-key=${OTLP_KEY}`,
        // A receiver that is not there: the export failure is logged, and must not quote the header.
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9',
        OTEL_BSP_SCHEDULE_DELAY: '20',
        OTEL_EXPORTER_OTLP_TIMEOUT: '500',
      },
      logger: createLogger('debug', (l) => lines.push(l)),
    })
    admin = await s.token()
    foreign = await signToken(new TextEncoder().encode('some-other-secret-0123456789abcdef'), { sub: 'mallory', scope: 'admin', memory: '*' })
    expired = await s.token({ ttlS: -60 })
  })
  afterAll(async () => {
    await inference.stop()
  })

  test('auth failures, query tokens, note creation, a failing AI job and a webhook leave no secret in the log', async () => {
    // Auth failures: foreign signature, expired, garbage, token only in the query (REST ignores it).
    expect((await s.request('/api/v1/notes', { token: foreign })).status).toBe(401)
    expect((await s.request('/api/v1/notes', { token: expired })).status).toBe(401)
    expect((await s.request('/api/v1/notes', { token: 'Bearer-garbage' })).status).toBe(401)
    expect((await s.request(`/api/v1/notes?token=${admin}`)).status).toBe(401)
    expect((await s.request(`/api/v1/nowhere?token=${admin}&api_key=${API_KEY}`)).status).toBe(404)

    // WebSocket with ?token= (accepted) and with a foreign ?token= (refused before the upgrade).
    const ws = await WsClient.connect(`${s.wsUrl}?token=${admin}`)
    await expect(WsClient.connect(`${s.wsUrl}?token=${foreign}`)).rejects.toThrow()

    // Secrets typed into notes: titles (generated from the content) are in debug payloads.
    for (const content of [`${WHSEC} is our signing secret`, `token ${admin} for the bot`, `${API_KEY} key for inference`, `Bearer ${JWT_SECRET}`]) {
      expect((await s.request('/api/v1/notes', { token: admin, body: { content } })).status).toBe(201)
    }
    await waitFor(() => lines.filter((l) => l.includes('"job.completed"')).length >= 12, 'the note pipelines to complete')

    // An AI revision whose upstream echoes the API key in its error.
    const note = (await (await s.request('/api/v1/notes', { token: admin, body: { content: 'revise me please' } })).json()) as { id: string }
    const job = (await (await s.request('/api/v1/jobs', { token: admin, body: { job_type: 'ai_revision', note_id: note.id } })).json()) as { id: string }
    await waitFor(async () => {
      const j = (await (await s.request(`/api/v1/jobs/${job.id}`, { token: admin })).json()) as { status: string }
      return j.status === 'failed'
    }, 'the ai_revision job to fail')
    expect(inference.requests.length).toBeGreaterThan(0)

    // A webhook created with an explicit secret (its module logs the creation).
    await s.request('/api/v1/webhooks', { token: admin, body: { url: 'http://127.0.0.1:9/hook', events: ['note'], secret: WHSEC } })

    ws.close()
    await ws.waitClose()
    await waitFor(() => lines.some((l) => l.includes('trace export failed')), 'the trace export failure to be logged')
    await s.stop()

    assertClean(lines, [JWT_SECRET, API_KEY, WHSEC_BODY, OTLP_KEY, admin, foreign, expired, admin.split('.')[2]!, foreign.split('.')[2]!])
    // The redaction marks show the secrets were there to be removed.
    const all = lines.join('\n')
    expect(all.includes('whsec_[redacted]')).toBe(true)
    expect(all.includes('[redacted-jwt]')).toBe(true)
    expect(all.includes('sk-[redacted]') || all.includes('[redacted]')).toBe(true)
  })

  test('every line is a JSON object with time, level, msg; debug carries payloads and the access log', () => {
    const recs = records()
    expect(recs.length).toBeGreaterThan(20)
    for (const r of recs) {
      expect(Object.keys(r).slice(0, 3)).toEqual(['time', 'level', 'msg'])
      expect(['debug', 'info', 'warn', 'error']).toContain(r.level)
    }
    const published = recs.filter((r) => r.msg === 'event published')
    expect(published.length).toBeGreaterThan(0)
    // (typeof checks: Bun's toMatchObject with expect.any() writes the matchers into the received object)
    for (const r of published) expect([typeof r.event_id, typeof r.event_type, typeof r.payload]).toEqual(['string', 'string', 'object'])
    const failed = recs.find((r) => r.msg === 'job failed')!
    expect([failed.level, typeof failed.job_id, failed.job_type]).toEqual(['warn', 'string', 'ai_revision'])

    const access = recs.filter((r) => r.msg === 'http request')
    // The completed upgrade and the refused one.
    expect(access.filter((r) => r.route === '/api/v1/ws').map((r) => r.status).sort()).toEqual([101, 401])
    for (const r of access) {
      expect([r.level, typeof r.method, typeof r.status, typeof r.duration_ms]).toEqual(['debug', 'string', 'number', 'number'])
      expect(JSON.stringify(r)).not.toContain('?')
    }
    expect(access.find((r) => r.path === '/api/v1/nowhere')?.status).toBe(404)
    const created = access.find((r) => r.route === '/api/v1/notes' && r.method === 'POST')!
    expect(created.status).toBe(201)
    expect(created.trace_id).toMatch(/^[0-9a-f]{32}$/)
  })
})

describe('payloads only at debug', () => {
  test('at info, no event payloads and no access log', async () => {
    const lines: string[] = []
    const s = await startServer({ env: { MATRIC_LOG_LEVEL: 'info' }, logger: createLogger('info', (l) => lines.push(l)) })
    try {
      const admin = await s.token()
      await s.request('/api/v1/notes', { token: admin, body: { content: 'quiet note' } })
      await s.request('/api/v1/events', { token: admin, body: { payload: { type: 'JobQueued', job_id: 'x', job_type: 'Import' } } })
    } finally {
      await s.stop()
    }
    expect(lines.join('\n')).not.toContain('"payload"')
    expect(lines.some((l) => l.includes('"http request"'))).toBe(false)
  })
})

describe('the real process (stdout), with a generated secret', () => {
  let dir: string
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'matric-logs-'))
  })
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  test('stdout is JSON lines that never contain the generated secret or the printed admin token', async () => {
    const p = await spawnServer({ MATRIC_DATA_DIR: dir, MATRIC_LOG_LEVEL: 'debug', MATRIC_JWT_SECRET: '' })
    try {
      const token = (await waitFor(() => /Local admin token[^\n]*\n\s*\n\s*(\S+)/.exec(p.stderr())?.[1], 'the printed admin token'))!
      const secret = readFileSync(join(dir, 'jwt-secret'), 'utf8').trim()
      const get = (path: string, tok?: string) => fetch(p.url + path, { headers: tok ? { authorization: `Bearer ${tok}` } : {} })
      expect((await get('/api/v1/jobs/stats', token)).status).toBe(200)
      expect((await get(`/api/v1/notes?token=${token}`)).status).toBe(401)
      expect((await get('/api/v1/notes', token.slice(0, -4) + 'AAAA')).status).toBe(401)
      const res = await fetch(p.url + '/api/v1/notes', {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ content: `${token} pasted by mistake` }),
      })
      expect(res.status).toBe(201)
      await waitFor(() => p.lines.some((l) => l.includes('"note.updated"')), 'the pipeline to update the note')
      const ws = await WsClient.connect(`${p.url.replace('http', 'ws')}/api/v1/ws?token=${token}`)
      ws.close()
      await ws.waitClose()
      await waitFor(() => p.lines.some((l) => l.includes('"/api/v1/ws"')), 'the WebSocket access log line')
    } finally {
      await p.kill('SIGTERM')
    }
    expect(p.lines.filter(Boolean).length).toBeGreaterThan(5)
    for (const line of p.lines.filter(Boolean)) {
      const rec = JSON.parse(line) as Rec
      expect(typeof rec.time).toBe('string')
    }
    const token = /Local admin token[^\n]*\n\s*\n\s*(\S+)/.exec(p.stderr())![1]!
    assertClean(p.lines, [readFileSync(join(dir, 'jwt-secret'), 'utf8').trim(), token, token.split('.')[2]!])
  })
})
