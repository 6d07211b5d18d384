import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { createHmac } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Lookup } from '../../src/modules/webhooks/ssrf.ts'
import { startReceiver, type Receiver } from '../helpers/receiver.ts'
import { startServer, type TestServer } from '../helpers/server.ts'
import { waitFor } from '../helpers/wait.ts'

type Json = Record<string, any>

/** Names other than `localhost` that /etc/hosts maps to a loopback address on this machine. */
function loopbackHostsEntries(): string[] {
  try {
    const names: string[] = []
    for (const line of readFileSync('/etc/hosts', 'utf8').split('\n')) {
      const [addr, ...hosts] = line.replace(/#.*/, '').trim().split(/\s+/)
      if (!addr || !(addr.startsWith('127.') || addr === '::1')) continue
      for (const h of hosts) if (h && h !== 'localhost' && /^[a-z0-9.-]+$/i.test(h)) names.push(h)
    }
    return names.slice(0, 3)
  } catch {
    return []
  }
}

describe('SSRF guard at creation (private targets not allowed)', () => {
  let s: TestServer
  let admin: string
  beforeAll(async () => {
    s = await startServer({ env: { MATRIC_WEBHOOK_CREATE_PER_MINUTE: '1000' } })
    admin = await s.token({ memory: '*' })
  })
  afterAll(() => s.stop())

  const refused: [string, string][] = [
    ['http://127.0.0.1/hook', 'loopback'],
    ['http://127.0.0.1:8080/hook', 'loopback'],
    ['http://localhost/hook', 'loopback'],
    ['http://localhost:3000/hook', 'loopback'],
    ['http://LocalHost./hook', 'loopback'],
    ['http://[::1]/hook', 'loopback'],
    ['http://10.0.0.1/hook', 'private'],
    ['http://192.168.1.10/hook', 'private'],
    ['http://172.16.5.4/hook', 'private'],
    ['http://[fd00::1]/hook', 'private'],
    ['http://169.254.169.254/latest/meta-data/', 'metadata'],
    ['http://[fd00:ec2::254]/', 'metadata'],
    ['http://169.254.10.10/', 'link-local'],
    ['http://[fe80::1]/', 'link-local'],
    ['http://100.64.1.1/', 'cgnat'],
    ['http://224.0.0.1/', 'multicast'],
    ['http://255.255.255.255/', 'broadcast'],
    ['http://0.0.0.0/', 'unspecified'],
    ['http://0/', 'unspecified'],
    ['http://2130706433/hook', 'loopback'], // decimal
    ['http://0x7f000001/hook', 'loopback'], // hex
    ['http://0177.0.0.1/hook', 'loopback'], // octal
    ['http://127.1/hook', 'loopback'], // short form
    ['http://[::ffff:127.0.0.1]/hook', 'loopback'], // IPv4-mapped IPv6
    ['http://[::ffff:a9fe:a9fe]/hook', 'metadata'], // IPv4-mapped metadata, hex spelling
    ['http://[::127.0.0.1]/hook', 'loopback'], // IPv4-compatible IPv6
    ...loopbackHostsEntries().map((h): [string, string] => [`http://${h}/hook`, 'loopback']), // names resolving to loopback
  ]
  for (const [url, why] of refused) {
    test(`${url} → 422 (${why})`, async () => {
      const res = await s.request('/api/v1/webhooks', { token: admin, body: { url, events: ['*'] } })
      expect(res.status).toBe(422)
      const err = (await res.json()) as Json
      expect(err.error).toBe('unprocessable_entity')
      expect(err.message).toContain('url refused')
      expect(err.message).toContain(why)
      expect(err.details).toEqual([{ path: '/url', message: expect.any(String) }])
    })
  }

  test('PATCH to a private url is refused too', async () => {
    // An unresolvable name is refused as well (422), so creating one needs a public literal. It is never
    // contacted: nothing is ever published in its memory.
    const created = await s.request('/api/v1/webhooks', {
      token: admin,
      body: { url: 'https://93.184.216.34/hook', events: ['note'], memory: 'never-published' },
    })
    expect(created.status).toBe(201)
    const { id } = (await created.json()) as Json
    const res = await s.request(`/api/v1/webhooks/${id}`, { token: admin, method: 'PATCH', body: { url: 'http://[::1]:8080/' } })
    expect(res.status).toBe(422)
    expect((await (await s.request(`/api/v1/webhooks/${id}`, { token: admin })).json()) as Json).toMatchObject({ url: 'https://93.184.216.34/hook' })
    await s.request(`/api/v1/webhooks/${id}`, { token: admin, method: 'DELETE' })
  })

  test('an unresolvable name → 422', async () => {
    const res = await s.request('/api/v1/webhooks', { token: admin, body: { url: 'https://no-such-host.invalid/hook', events: ['*'] } })
    expect(res.status).toBe(422)
    expect(((await res.json()) as Json).message).toContain('cannot resolve')
  })
})

describe('SSRF guard at delivery time', () => {
  let s: TestServer
  let r: Receiver
  beforeAll(async () => {
    s = await startServer({ env: { MATRIC_WEBHOOK_ALLOW_PRIVATE: 'true' } })
    r = await startReceiver()
  })
  afterAll(async () => {
    await s.stop()
    await r.stop()
  })

  test('a target that is no longer allowed is a failed attempt with a clear error, not sent and not retried', async () => {
    const admin = await s.token()
    const res = await s.request('/api/v1/webhooks', { token: admin, body: { url: r.url + '/hook', events: ['*'], max_retries: 5 } })
    const w = (await res.json()) as Json
    // The policy (or what the name resolves to) changed after creation: the re-check at delivery refuses it.
    s.config.webhooks.allowPrivate = false
    try {
      await s.request('/api/v1/events', { token: admin, body: { payload: { type: 'NoteDeleted', note_id: 'n1' } } })
      const log = await waitFor(async () => {
        const l = (await (await s.request(`/api/v1/webhooks/${w.id}/deliveries`, { token: admin })).json()) as Json[]
        return l.length ? l : null
      }, 'refused attempt logged')
      expect(log).toHaveLength(1)
      expect(log[0]).toMatchObject({ attempt: 1, success: false })
      expect(log[0]!.status_code).toBeUndefined()
      expect(log[0]!.error).toBe('refused by the SSRF guard: 127.0.0.1 is a loopback address')
      const row = s.db.query('SELECT status FROM webhook_deliveries WHERE webhook_id = ?').get(w.id) as { status: string }
      expect(row.status).toBe('failed')
      expect(r.requests).toHaveLength(0)
    } finally {
      s.config.webhooks.allowPrivate = true
    }
  })
})

/** A resolver the test controls (names → addresses), counting the questions it is asked. */
function testResolver() {
  const answers = new Map<string, string[]>()
  const asked: string[] = []
  const lookup: Lookup = async (name) => {
    asked.push(name)
    const a = answers.get(name)
    if (!a) throw Object.assign(new Error(`no such name ${name}`), { code: 'ENOTFOUND' })
    return a
  }
  return { answers, asked, lookup }
}

async function attemptLog(s: TestServer, token: string, id: string): Promise<Json[]> {
  return (await (await s.request(`/api/v1/webhooks/${id}/deliveries`, { token })).json()) as Json[]
}

describe('one resolution, every address checked (private targets not allowed)', () => {
  let s: TestServer
  let admin: string
  const dns = testResolver()
  beforeAll(async () => {
    s = await startServer({ env: { MATRIC_WEBHOOK_CREATE_PER_MINUTE: '1000' }, webhookLookup: dns.lookup })
    admin = await s.token({ memory: '*' })
  })
  afterAll(() => s.stop())

  test('a name resolving to a public and a loopback address is refused at creation, naming the loopback one', async () => {
    dns.answers.set('dual.test', ['93.184.216.34', '127.0.0.1'])
    const res = await s.request('/api/v1/webhooks', { token: admin, body: { url: 'http://dual.test/hook', events: ['*'] } })
    expect(res.status).toBe(422)
    expect(((await res.json()) as Json).message).toBe(
      'url refused: dual.test resolves to 127.0.0.1 (loopback); private targets are not allowed (MATRIC_WEBHOOK_ALLOW_PRIVATE)',
    )
  })

  test('a name that gains a loopback address after creation is refused at delivery, resolved once per attempt', async () => {
    dns.answers.set('rebind.test', ['93.184.216.34'])
    const created = await s.request('/api/v1/webhooks', { token: admin, body: { url: 'http://rebind.test/hook', events: ['*'], memory: 'rebind' } })
    expect(created.status).toBe(201)
    const w = (await created.json()) as Json
    dns.answers.set('rebind.test', ['93.184.216.34', '::ffff:127.0.0.1'])
    const askedBefore = dns.asked.filter((n) => n === 'rebind.test').length
    await s.request('/api/v1/events', { token: admin, body: { memory: 'rebind', payload: { type: 'NoteDeleted', note_id: 'n1' } } })
    const log = await waitFor(async () => {
      const l = await attemptLog(s, admin, w.id)
      return l.length ? l : null
    }, 'refused attempt logged')
    expect(log).toHaveLength(1)
    expect(log[0]!.error).toBe('refused by the SSRF guard: rebind.test resolves to ::ffff:127.0.0.1 (loopback)')
    expect(dns.asked.filter((n) => n === 'rebind.test').length - askedBefore).toBe(1)
  })
})

describe('the connection goes to the checked address (pinned), with the original Host and TLS name', () => {
  let s: TestServer
  let admin: string
  let plain: Receiver
  let tls: Receiver
  const dns = testResolver()
  const fixtures = join(import.meta.dir, '../fixtures/tls')
  const cert = readFileSync(join(fixtures, 'hook.test.crt'), 'utf8')
  const key = readFileSync(join(fixtures, 'hook.test.key'), 'utf8')
  beforeAll(async () => {
    // Private targets allowed (the receivers are on loopback): the resolution and the pinning stay.
    s = await startServer({
      env: { MATRIC_WEBHOOK_ALLOW_PRIVATE: 'true', MATRIC_WEBHOOK_CREATE_PER_MINUTE: '1000', MATRIC_WEBHOOK_RETRY_SCHEDULE_MS: '60000' },
      webhookLookup: dns.lookup,
      webhookTlsCa: cert,
    })
    admin = await s.token({ memory: '*' })
    plain = await startReceiver()
    tls = await startReceiver({ tls: { cert, key } })
  })
  afterAll(async () => {
    await s.stop()
    await plain.stop()
    await tls.stop()
  })

  async function deliverOne(memory: string, url: string): Promise<Json> {
    const res = await s.request('/api/v1/webhooks', { token: admin, body: { url, events: ['*'], memory } })
    expect(res.status).toBe(201)
    const w = (await res.json()) as Json
    await s.request('/api/v1/events', { token: admin, body: { memory, payload: { type: 'NoteDeleted', note_id: 'n1' } } })
    return w
  }

  test('http: a name only our resolver knows is delivered to its address, Host keeps the name, resolved once', async () => {
    // The OS cannot resolve hook.test: the request reaches the receiver only through the checked address.
    dns.answers.set('hook.test', ['127.0.0.1'])
    const w = await deliverOne('pin-http', `http://hook.test:${plain.port}/hook?x=1`)
    const [req] = await plain.waitForRequests(1, 'the pinned delivery')
    expect(req!.headers.host).toBe(`hook.test:${plain.port}`)
    expect(req!.path).toBe('/hook?x=1')
    expect(req!.headers['x-matric-signature']).toBe('sha256=' + createHmac('sha256', w.secret).update(req!.body).digest('hex'))
    expect(dns.asked.filter((n) => n === 'hook.test')).toHaveLength(1) // creation skips DNS when private targets are allowed
  })

  test('dual stack: when the first checked address refuses the connection, the next one is tried', async () => {
    dns.answers.set('dual6.test', ['::1', '127.0.0.1']) // nothing listens on [::1]:port
    const before = plain.requests.length
    const w = await deliverOne('pin-dual', `http://dual6.test:${plain.port}/dual`)
    const reqs = await plain.waitForRequests(before + 1, 'the delivery via the second address')
    expect(reqs[before]!.headers.host).toBe(`dual6.test:${plain.port}`)
    const log = await waitFor(async () => {
      const l = await attemptLog(s, admin, w.id)
      return l.length ? l : null
    }, 'attempt logged')
    expect(log).toMatchObject([{ attempt: 1, success: true, status_code: 200 }])
  })

  test('https: SNI and the certificate check use the name, the connection the checked address', async () => {
    dns.answers.set('hook.test', ['127.0.0.1'])
    await deliverOne('pin-https', `https://hook.test:${tls.port}/secure`)
    const [req] = await tls.waitForRequests(1, 'the pinned https delivery')
    expect(req!.headers.host).toBe(`hook.test:${tls.port}`)
    expect(req!.path).toBe('/secure')
  })

  test('https: a certificate that does not cover the name fails the attempt (checked against the name, not the address)', async () => {
    dns.answers.set('other.test', ['127.0.0.1'])
    const before = tls.requests.length
    const w = await deliverOne('pin-https-bad', `https://other.test:${tls.port}/secure`)
    const log = await waitFor(async () => {
      const l = await attemptLog(s, admin, w.id)
      return l.length ? l : null
    }, 'failed attempt logged')
    expect(log[0]).toMatchObject({ attempt: 1, success: false })
    expect(log[0]!.error).toContain('ERR_TLS_CERT_ALTNAME_INVALID')
    expect(tls.requests.length).toBe(before)
  })
})
