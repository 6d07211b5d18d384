import { describe, expect, test } from 'bun:test'
import { createHmac } from 'node:crypto'
import { Webhook } from 'standardwebhooks'
import { buildDeliveryHeaders } from '../../src/modules/webhooks/headers.ts'
import {
  generateSecret,
  matricSignature,
  secretProblem,
  signatureHeaders,
  standardKey,
  standardSignature,
} from '../../src/modules/webhooks/signing.ts'
import { signingSecrets } from '../../src/modules/webhooks/store.ts'
import { USER_AGENT } from '../../src/version.ts'

const BODY = '{"event_id":"e1","payload":{"type":"JobCompleted","note":"héllo ✓"}}'
const WHSEC = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw7HHlJ2eNcEY='
const PLAIN = 'a-plain-secret-of-some-length'

describe('matricSignature: sha256=<hex HMAC(key = secret UTF-8, body)>', () => {
  const cases: [string, string][] = [
    [PLAIN, BODY],
    [WHSEC, BODY],
    ['ünïcødé-sécret-1234', BODY],
    [PLAIN, ''],
  ]
  for (const [secret, body] of cases) {
    test(`${secret.slice(0, 12)}… / ${body.length} chars`, () => {
      const expected = 'sha256=' + createHmac('sha256', Buffer.from(secret, 'utf8')).update(Buffer.from(body, 'utf8')).digest('hex')
      expect(matricSignature(secret, body)).toBe(expected)
    })
  }
})

describe('standardSignature: v1,<base64 HMAC(key, "<id>.<ts>.<body>")>', () => {
  const cases: { name: string; secret: string; key: Buffer }[] = [
    { name: 'whsec_ secret: key is the base64-decoded part', secret: WHSEC, key: Buffer.from(WHSEC.slice(6), 'base64') },
    { name: 'other secret: key is its UTF-8 bytes', secret: PLAIN, key: Buffer.from(PLAIN, 'utf8') },
  ]
  for (const c of cases) {
    test(c.name, () => {
      const ts = 1_700_000_000
      const expected = 'v1,' + createHmac('sha256', c.key).update(`msg_1.${ts}.${BODY}`).digest('base64')
      expect(standardSignature(c.secret, 'msg_1', ts, BODY)).toBe(expected)
      expect(Buffer.from(standardKey(c.secret)).equals(c.key)).toBe(true)
    })
  }

  test('verifies with the standardwebhooks package', () => {
    const ts = Math.floor(Date.now() / 1000)
    const headers = { 'webhook-id': 'msg_2', 'webhook-timestamp': String(ts), 'webhook-signature': standardSignature(WHSEC, 'msg_2', ts, BODY) }
    expect(new Webhook(WHSEC).verify(BODY, headers)).toEqual(JSON.parse(BODY))
    expect(() => new Webhook(generateSecret()).verify(BODY, headers)).toThrow()
  })
})

describe('signatureHeaders during a rotation', () => {
  test('one value per signing secret, space-separated, newest first', () => {
    const old = generateSecret()
    const h = signatureHeaders([WHSEC, old], 'msg_3', 1_700_000_000, BODY)
    expect(h['x-matric-signature'].split(' ')).toEqual([matricSignature(WHSEC, BODY), matricSignature(old, BODY)])
    expect(h['webhook-signature'].split(' ')).toEqual([standardSignature(WHSEC, 'msg_3', 1_700_000_000, BODY), standardSignature(old, 'msg_3', 1_700_000_000, BODY)])
  })

  test('signingSecrets includes the previous secret only inside its window', () => {
    const row = { secret: 'new', previous_secret: 'old', previous_secret_expires_ms: 2000 }
    expect(signingSecrets(row, 1999)).toEqual(['new', 'old'])
    expect(signingSecrets(row, 2000)).toEqual(['new'])
    expect(signingSecrets({ ...row, previous_secret: null, previous_secret_expires_ms: null }, 0)).toEqual(['new'])
  })
})

describe('generateSecret and secretProblem', () => {
  test('generated secrets are whsec_ + base64 of 32 random bytes', () => {
    const a = generateSecret()
    expect(a).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/)
    expect(Buffer.from(a.slice(6), 'base64').length).toBe(32)
    expect(generateSecret()).not.toBe(a)
    expect(secretProblem(a)).toBeNull()
  })
  const cases: [string, boolean][] = [
    [PLAIN, true],
    [WHSEC, true],
    ['short', false],
    ['x'.repeat(257), false],
    ['has some spaces inside', false],
    ['whsec_not*base64*at*all!!', false],
    ['whsec_' + Buffer.alloc(8).toString('base64'), false], // too few key bytes
    ['whsec_' + Buffer.alloc(16, 1).toString('base64'), true],
  ]
  for (const [secret, ok] of cases) {
    test(`${JSON.stringify(secret.slice(0, 30))} → ${ok ? 'accepted' : 'refused'}`, () => {
      expect(secretProblem(secret) === null).toBe(ok)
    })
  }
})

describe('buildDeliveryHeaders', () => {
  const base = { deliveryId: 'd-1', legacyType: 'JobCompleted', body: BODY, secrets: [WHSEC], timestampS: 1_700_000_000 }
  test('every header of docs/webhooks.md', () => {
    const h = buildDeliveryHeaders(base)
    expect(h).toEqual({
      'content-type': 'application/json',
      'user-agent': USER_AGENT,
      'x-matric-event': 'JobCompleted',
      'x-matric-delivery': 'd-1',
      'webhook-id': 'd-1',
      'webhook-timestamp': '1700000000',
      'x-matric-signature': matricSignature(WHSEC, BODY),
      'webhook-signature': standardSignature(WHSEC, 'd-1', 1_700_000_000, BODY),
    })
  })
  test('traceparent only when known', () => {
    const tp = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'
    expect(buildDeliveryHeaders({ ...base, traceparent: tp }).traceparent).toBe(tp)
    expect('traceparent' in buildDeliveryHeaders({ ...base, traceparent: null })).toBe(false)
  })
})
