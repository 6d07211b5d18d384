/**
 * The `matric_token` cookie on WebSocket and SSE: a browser sends it with any page's request, so a
 * cross-site page must not be able to use it; and a malformed cookie is the client's fault (401), not a 500.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { createLogger } from '../../src/telemetry/log.ts'
import { rawWs } from '../helpers/raw-ws.ts'
import { startServer, type TestServer } from '../helpers/server.ts'

let s: TestServer
let listed: TestServer
let token: string
const logLines: string[] = []

beforeAll(async () => {
  s = await startServer({ logger: createLogger('error', (l) => logLines.push(l)) })
  listed = await startServer({ env: { MATRIC_ALLOWED_ORIGINS: 'https://app.example' } })
  token = await s.token({ scope: 'read' })
})
afterAll(async () => {
  await s.stop()
  await listed.stop()
})

/** Status of a WebSocket handshake (raw, so any Host/Origin/Cookie can be sent). */
async function wsStatus(srv: TestServer, headers: Record<string, string>, query = ''): Promise<number> {
  const ws = await rawWs(srv.port, `/api/v1/ws${query}`, { headers })
  ws.destroy()
  return ws.status
}

/** Status of an SSE request (the stream, if opened, is closed at once). */
async function sseStatus(srv: TestServer, headers: Record<string, string>, query = ''): Promise<number> {
  const ctrl = new AbortController()
  const res = await fetch(`${srv.url}/api/v1/events${query}`, { headers, signal: ctrl.signal })
  ctrl.abort()
  return res.status
}

const transports = [
  ['WebSocket', wsStatus],
  ['SSE', sseStatus],
] as const

describe('cookie credentials need a same-origin (or listed) Origin', () => {
  for (const [name, status] of transports) {
    test(`${name}: a cross-site Origin with the cookie → 403`, async () => {
      expect(await status(s, { cookie: `matric_token=${token}`, origin: 'https://evil.example' })).toBe(403)
      expect(await status(s, { cookie: `matric_token=${token}`, origin: 'null' })).toBe(403)
    })

    test(`${name}: the same origin (Origin host = Host) with the cookie is fine`, async () => {
      // rawWs sends `Host: localhost`; fetch sends the URL's host
      const host = name === 'WebSocket' ? 'localhost' : `127.0.0.1:${s.port}`
      const expected = name === 'WebSocket' ? 101 : 200
      expect(await status(s, { cookie: `matric_token=${token}`, origin: `http://${host}` })).toBe(expected)
    })

    test(`${name}: no Origin (not a browser) with the cookie stays allowed`, async () => {
      expect(await status(s, { cookie: `matric_token=${token}` })).toBe(name === 'WebSocket' ? 101 : 200)
    })

    test(`${name}: other credentials from a cross-site page are not affected (a page cannot send them unknowingly)`, async () => {
      expect(await status(s, { origin: 'https://evil.example' }, `?token=${token}`)).toBe(name === 'WebSocket' ? 101 : 200)
    })

    test(`${name}: an origin listed in MATRIC_ALLOWED_ORIGINS may use the cookie`, async () => {
      const t = await listed.token({ scope: 'read' })
      expect(await status(listed, { cookie: `matric_token=${t}`, origin: 'https://app.example' })).toBe(name === 'WebSocket' ? 101 : 200)
      expect(await status(listed, { cookie: `matric_token=${t}`, origin: 'https://evil.example' })).toBe(403)
    })
  }
})

describe('a malformed matric_token cookie', () => {
  for (const [name, status] of transports) {
    test(`${name}: 401, and no error logged`, async () => {
      logLines.length = 0
      for (const cookie of ['matric_token=%E0%A4%A', 'matric_token=%', 'matric_token=%zz; other=1', 'matric_token=']) {
        const got = await status(s, { cookie })
        expect({ cookie, got }).toEqual({ cookie, got: 401 })
      }
      expect(logLines.filter((l) => l.includes('"level":"error"'))).toEqual([])
    })
  }
})
