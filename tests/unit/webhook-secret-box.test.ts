import { afterEach, describe, expect, test } from 'bun:test'
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  deriveKey,
  isSealed,
  KEY_FILE,
  NEXT_KEY_FILE,
  PREVIOUS_KEY_FILE,
  resolveWebhookKeys,
  SecretBox,
  SecretKeyError,
  sealedKeyId,
} from '../../src/modules/webhooks/secret-box.ts'

const k1 = deriveKey('a'.repeat(40))
const k2 = deriveKey('b'.repeat(40))
const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'

describe('SecretBox', () => {
  const box = new SecretBox(k1)

  test('seal → open round trip; the sealed form names the key and hides the secret', () => {
    const sealed = box.seal(secret, 'webhook-1')
    expect(sealed).toStartWith(`enc:v1:${k1.id}:`)
    expect(sealed).not.toContain(secret)
    expect(sealed).not.toContain(secret.slice(6))
    expect(box.open(sealed, 'webhook-1')).toBe(secret)
  })

  test('a fresh IV every time: the same secret seals differently', () => {
    expect(box.seal(secret, 'w')).not.toBe(box.seal(secret, 'w'))
  })

  test('unicode and long secrets survive', () => {
    const s = 'ünïcødé-' + 'x'.repeat(240)
    expect(box.open(box.seal(s, 'w'), 'w')).toBe(s)
  })

  const sealed = box.seal(secret, 'webhook-1')
  const body = sealed.slice(`enc:v1:${k1.id}:`.length)
  const flip = (s: string, i: number) => s.slice(0, i) + (s[i] === 'A' ? 'B' : 'A') + s.slice(i + 1)
  const refusals: [string, () => string, string][] = [
    ['moved to another webhook (AAD)', () => box.open(sealed, 'webhook-2'), 'does not authenticate'],
    ['ciphertext tampered', () => box.open(`enc:v1:${k1.id}:${flip(body, 20)}`, 'webhook-1'), 'does not authenticate'],
    ['tag tampered', () => box.open(`enc:v1:${k1.id}:${flip(body, body.length - 3)}`, 'webhook-1'), 'does not authenticate'],
    ['truncated', () => box.open(`enc:v1:${k1.id}:${body.slice(0, 10)}`, 'webhook-1'), 'truncated'],
    ['an unknown key', () => new SecretBox(k2).open(sealed, 'webhook-1'), `unknown key ${k1.id}`],
    ['no key id', () => box.open('enc:v1:', 'webhook-1'), 'unknown key (malformed)'],
  ]
  for (const [name, run, message] of refusals) {
    test(`refused: ${name}`, () => {
      expect(run).toThrow(SecretKeyError)
      expect(run).toThrow(message)
    })
  }

  test('plaintext (rows from before encryption) passes through and needs sealing', () => {
    expect(isSealed(secret)).toBe(false)
    expect(box.open(secret, 'w')).toBe(secret)
    expect(box.needsReseal(secret)).toBe(true)
  })

  test('a box opens with any known key, seals with the current one, and flags values under another key', () => {
    const rotated = new SecretBox(k2, [k1])
    expect(rotated.open(sealed, 'webhook-1')).toBe(secret)
    expect(rotated.needsReseal(sealed)).toBe(true)
    const resealed = rotated.seal(secret, 'webhook-1')
    expect(sealedKeyId(resealed)).toBe(k2.id)
    expect(rotated.needsReseal(resealed)).toBe(false)
  })

  test('key ids are stable per material and differ between materials', () => {
    expect(deriveKey('a'.repeat(40)).id).toBe(k1.id)
    expect(k1.id).toMatch(/^[0-9a-f]{16}$/)
    expect(k1.id).not.toBe(k2.id)
  })
})

describe('resolveWebhookKeys', () => {
  const dirs: string[] = []
  const tmp = () => {
    const d = mkdtempSync(join(tmpdir(), 'matric-keys-'))
    dirs.push(d)
    return d
  }
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
  })

  test('generated on first start (mode 0600), reused afterwards', () => {
    const dir = tmp()
    const first = resolveWebhookKeys(undefined, undefined, dir)
    expect(first.source).toBe('generated')
    const path = join(dir, KEY_FILE)
    expect(statSync(path).mode & 0o777).toBe(0o600)
    expect(readFileSync(path, 'utf8').trim().length).toBeGreaterThanOrEqual(32)
    const again = resolveWebhookKeys(undefined, undefined, dir)
    expect(again.source).toBe('stored')
    expect(again.box.current.id).toBe(first.box.current.id)
  })

  test('loosened permissions are tightened again', () => {
    const dir = tmp()
    resolveWebhookKeys(undefined, undefined, dir)
    const path = join(dir, KEY_FILE)
    Bun.spawnSync(['chmod', '0644', path])
    resolveWebhookKeys(undefined, undefined, dir)
    expect(statSync(path).mode & 0o777).toBe(0o600)
  })

  test('MATRIC_WEBHOOK_SECRET_KEY wins, creates no file, and still reads rows sealed with the key file', () => {
    const dir = tmp()
    const fileKey = resolveWebhookKeys(undefined, undefined, dir).box.current
    const env = resolveWebhookKeys('e'.repeat(40), undefined, join(dir, 'elsewhere'))
    expect(env.source).toBe('env')
    expect(existsSync(join(dir, 'elsewhere', KEY_FILE))).toBe(false)
    const both = resolveWebhookKeys('e'.repeat(40), undefined, dir)
    expect(both.box.current.id).toBe(deriveKey('e'.repeat(40)).id)
    expect(both.box.keyIds).toEqual([deriveKey('e'.repeat(40)).id, fileKey.id])
  })

  test('decrypt-only keys: _PREVIOUS, .previous and .next files', () => {
    const dir = tmp()
    const cur = resolveWebhookKeys(undefined, undefined, dir).box.current
    writeFileSync(join(dir, PREVIOUS_KEY_FILE), 'p'.repeat(40) + '\n', { mode: 0o600 })
    writeFileSync(join(dir, NEXT_KEY_FILE), 'n'.repeat(40) + '\n', { mode: 0o600 })
    const r = resolveWebhookKeys(undefined, 'q'.repeat(40), dir)
    expect(r.box.keyIds).toEqual([cur.id, deriveKey('q'.repeat(40)).id, deriveKey('p'.repeat(40)).id, deriveKey('n'.repeat(40)).id])
    expect(r.materials).toHaveLength(4)
  })

  test('a key file with too little material is a clear error, not a weak key', () => {
    const dir = tmp()
    writeFileSync(join(dir, KEY_FILE), 'short\n', { mode: 0o600 })
    expect(() => resolveWebhookKeys(undefined, undefined, dir)).toThrow('key material too short (5 characters, at least 32)')
  })
})
