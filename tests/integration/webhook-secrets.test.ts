/**
 * Webhook secrets at rest (docs/webhooks.md#secrets-at-rest): sealed in SQLite with a key kept in the data
 * dir, plaintext rows from before sealed at start, and the key rotation script.
 */
import { Database } from 'bun:sqlite'
import { afterAll, describe, expect, test } from 'bun:test'
import { createHmac } from 'node:crypto'
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfig } from '../../src/config.ts'
import { createContext } from '../../src/context.ts'
import { deriveKey, KEY_FILE, NEXT_KEY_FILE, PREVIOUS_KEY_FILE, SecretBox, sealedKeyId } from '../../src/modules/webhooks/secret-box.ts'
import { SqliteWebhookStore } from '../../src/store/sqlite/webhooks.ts'
import { generateSecret } from '../../src/modules/webhooks/signing.ts'
import { createLogger } from '../../src/telemetry/log.ts'
import { startReceiver, type Receiver, type ReceivedRequest } from '../helpers/receiver.ts'
import { startServer, TEST_SECRET, type TestServer } from '../helpers/server.ts'
import { waitFor, within } from '../helpers/wait.ts'

type Json = Record<string, any>

const dirs: string[] = []
const receivers: Receiver[] = []
afterAll(async () => {
  for (const r of receivers) await r.stop()
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

function dataDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'matric-secrets-'))
  dirs.push(d)
  return d
}

async function receiver(): Promise<Receiver> {
  const r = await startReceiver()
  receivers.push(r)
  return r
}

const ENV = { MATRIC_WEBHOOK_ALLOW_PRIVATE: 'true', MATRIC_WEBHOOK_CREATE_PER_MINUTE: '1000' }
const start = (dir: string, env: Record<string, string> = {}) => startServer({ dataDir: dir, env: { ...ENV, ...env } })

/** Every byte SQLite wrote for this data dir (database and WAL), as latin1 text to search in. */
function storedBytes(dir: string): string {
  return ['matric.db', 'matric.db-wal']
    .map((f) => join(dir, f))
    .filter(existsSync)
    .map((f) => readFileSync(f).toString('latin1'))
    .join('\n')
}

function rawRow(s: TestServer, id: string): { secret: string; previous_secret: string | null } {
  return s.db.query('SELECT secret, previous_secret FROM webhooks WHERE id = ?').get(id) as { secret: string; previous_secret: string | null }
}

async function createHook(s: TestServer, url: string, secret: string): Promise<Json> {
  const res = await s.request('/api/v1/webhooks', { token: await s.token(), body: { url, events: ['*'], secret } })
  expect(res.status).toBe(201)
  return (await res.json()) as Json
}

/** Publishes one event and returns the request the receiver got for it at `path`. */
async function deliverOne(s: TestServer, r: Receiver, path = '/'): Promise<ReceivedRequest> {
  const res = await s.request('/api/v1/events', { token: await s.token(), body: { payload: { type: 'NoteDeleted', note_id: crypto.randomUUID() } } })
  expect(res.status).toBe(202)
  const { event_id } = (await res.json()) as Json
  return waitFor(() => r.requests.find((q) => q.path === path && JSON.parse(q.body).event_id === event_id), `the delivery to ${path}`)
}

/** Both signature schemes verify with `secret` (one of the space-separated values during a rotation), computed independently. */
function signedWith(req: ReceivedRequest, secret: string): boolean {
  const matric = 'sha256=' + createHmac('sha256', Buffer.from(secret, 'utf8')).update(req.body).digest('hex')
  const key = secret.startsWith('whsec_') ? Buffer.from(secret.slice(6), 'base64') : Buffer.from(secret, 'utf8')
  const id = req.headers['webhook-id']!
  const ts = req.headers['webhook-timestamp']!
  const standard = 'v1,' + createHmac('sha256', key).update(`${id}.${ts}.${req.body}`).digest('base64')
  return req.headers['x-matric-signature']!.split(' ').includes(matric) && req.headers['webhook-signature']!.split(' ').includes(standard)
}

const b64 = (secret: string) => secret.slice('whsec_'.length)

describe('secrets at rest', () => {
  test('the raw SQLite row and files hold neither the secret nor its key bytes; deliveries are signed with it', async () => {
    const dir = dataDir()
    const s = await start(dir)
    try {
      const r = await receiver()
      const secret = generateSecret()
      const w = await createHook(s, r.url, secret)
      expect(w.secret).toBe(secret) // the API still shows it once
      const raw = rawRow(s, w.id)
      expect(raw.secret).toStartWith('enc:v1:')
      expect(raw.secret).not.toContain(secret)
      expect(raw.secret).not.toContain(b64(secret))
      const key = readFileSync(join(dir, KEY_FILE), 'utf8').trim()
      expect(sealedKeyId(raw.secret)).toBe(deriveKey(key).id)
      expect(statSync(join(dir, KEY_FILE)).mode & 0o777).toBe(0o600)
      const req = await deliverOne(s, r)
      expect(signedWith(req, secret)).toBe(true)
      s.db.exec('PRAGMA wal_checkpoint(FULL)')
      expect(storedBytes(dir)).not.toContain(b64(secret))
    } finally {
      await s.stop()
    }
  })

  test('rotation: the new and the previous secret are both sealed, both sign, and keep signing after a restart', async () => {
    const dir = dataDir()
    let s = await start(dir)
    const r = await receiver()
    const oldSecret = generateSecret()
    const w = await createHook(s, r.url, oldSecret)
    const rotated = (await (await s.request(`/api/v1/webhooks/${w.id}/rotate-secret`, { token: await s.token(), method: 'POST' })).json()) as Json
    const newSecret = rotated.secret as string
    const raw = rawRow(s, w.id)
    expect(raw.previous_secret).toStartWith('enc:v1:')
    for (const v of [raw.secret, raw.previous_secret!]) {
      expect(v).not.toContain(b64(oldSecret))
      expect(v).not.toContain(b64(newSecret))
    }
    const before = await deliverOne(s, r)
    expect(signedWith(before, newSecret) && signedWith(before, oldSecret)).toBe(true)
    await s.stop()

    const keyBefore = readFileSync(join(dir, KEY_FILE), 'utf8')
    s = await start(dir)
    try {
      expect(readFileSync(join(dir, KEY_FILE), 'utf8')).toBe(keyBefore) // reused, not regenerated
      const after = await deliverOne(s, r)
      expect(signedWith(after, newSecret)).toBe(true)
      expect(signedWith(after, oldSecret)).toBe(true)
      s.db.exec('PRAGMA wal_checkpoint(FULL)')
      const bytes = storedBytes(dir)
      expect(bytes).not.toContain(b64(oldSecret))
      expect(bytes).not.toContain(b64(newSecret))
    } finally {
      await s.stop()
    }
  })

  test('plaintext rows from before encryption are sealed at start and still sign', async () => {
    const dir = dataDir()
    let s = await start(dir)
    const r = await receiver()
    const current = 'legacy-plain-secret-0123456789'
    const previous = generateSecret()
    const w = await createHook(s, r.url, generateSecret())
    await s.stop()
    // As an older version left it: plaintext in both columns, inside the rotation window.
    const db = new Database(join(dir, 'matric.db'))
    db.query('UPDATE webhooks SET secret = ?, previous_secret = ?, previous_secret_expires_ms = ? WHERE id = ?').run(current, previous, Date.now() + 3600_000, w.id)
    db.close()

    s = await start(dir)
    try {
      const raw = rawRow(s, w.id)
      expect(raw.secret).toStartWith('enc:v1:')
      expect(raw.previous_secret).toStartWith('enc:v1:')
      expect(raw.secret).not.toContain(current)
      // Compacted after sealing: the plaintext is gone from the file and the WAL too.
      const bytes = storedBytes(dir)
      expect(bytes).not.toContain(current)
      expect(bytes).not.toContain(b64(previous))
      const req = await deliverOne(s, r)
      expect(signedWith(req, current)).toBe(true)
      expect(signedWith(req, previous)).toBe(true)
    } finally {
      await s.stop()
    }
  })
})

describe('key rotation (npm run webhook-key:rotate)', () => {
  const root = join(import.meta.dir, '../..')
  function rotate(dir: string, env: Record<string, string> = {}) {
    const p = Bun.spawnSync([process.execPath, 'scripts/rotate-webhook-key.ts'], {
      cwd: root,
      env: { PATH: process.env.PATH ?? '', MATRIC_DATA_DIR: dir, MATRIC_JWT_SECRET: TEST_SECRET, ...env },
    })
    return { code: p.exitCode, stdout: p.stdout.toString(), stderr: p.stderr.toString() }
  }

  test('key file: a new key, every row re-encrypted under it, the old key kept for reading; deliveries still signed', async () => {
    const dir = dataDir()
    let s = await start(dir)
    const r = await receiver()
    const secret = generateSecret()
    const w = await createHook(s, r.url, secret)
    const rotation = await s.request(`/api/v1/webhooks/${w.id}/rotate-secret`, { token: await s.token(), method: 'POST' }) // previous_secret too
    const rotatedSecret = ((await rotation.json()) as Json).secret as string
    const otherSecret = generateSecret()
    await createHook(s, r.url + '/other', otherSecret)
    await s.stop()
    const oldKey = readFileSync(join(dir, KEY_FILE), 'utf8').trim()

    const out = rotate(dir)
    expect(out.stderr).toBe('')
    expect(out.code).toBe(0)
    const newKey = readFileSync(join(dir, KEY_FILE), 'utf8').trim()
    expect(newKey).not.toBe(oldKey)
    expect(out.stdout).toContain(`${deriveKey(oldKey).id} -> ${deriveKey(newKey).id}; 2 webhook(s) re-encrypted`)
    expect(statSync(join(dir, KEY_FILE)).mode & 0o777).toBe(0o600)
    expect(readFileSync(join(dir, PREVIOUS_KEY_FILE), 'utf8').trim()).toBe(oldKey)
    expect(statSync(join(dir, PREVIOUS_KEY_FILE)).mode & 0o777).toBe(0o600)
    const db = new Database(join(dir, 'matric.db'), { readonly: true })
    const rows = db.query('SELECT secret, previous_secret FROM webhooks').all() as { secret: string; previous_secret: string | null }[]
    db.close()
    const ids = rows.flatMap((x) => [x.secret, x.previous_secret]).filter((v): v is string => v !== null).map(sealedKeyId)
    expect(ids).toEqual([deriveKey(newKey).id, deriveKey(newKey).id, deriveKey(newKey).id])

    // With the old key gone too, the service reads everything with the new key alone.
    rmSync(join(dir, PREVIOUS_KEY_FILE))
    s = await start(dir)
    try {
      const res = await s.request(`/api/v1/webhooks/${w.id}`, { token: await s.token() })
      expect(res.status).toBe(200)
      const req = await deliverOne(s, r)
      expect(signedWith(req, secret)).toBe(true) // the previous secret, still inside its 24 h window
      expect(signedWith(req, rotatedSecret)).toBe(true)
      expect(signedWith(await deliverOne(s, r, '/other'), otherSecret)).toBe(true)
    } finally {
      await s.stop()
    }
  })

  test('an interrupted rotation leaves every row readable, and running the script again completes it', async () => {
    const dir = dataDir()
    let s = await start(dir)
    const r = await receiver()
    const secret = generateSecret()
    const w = await createHook(s, r.url, secret)
    await s.stop()
    const oldKey = readFileSync(join(dir, KEY_FILE), 'utf8').trim()
    // As if the script died after committing the rows under the new key, before switching the files.
    const next = 'next-key-material-' + 'n'.repeat(40)
    writeFileSync(join(dir, NEXT_KEY_FILE), next + '\n', { mode: 0o600 })
    const db = new Database(join(dir, 'matric.db'))
    await new SqliteWebhookStore(db, new SecretBox(deriveKey(next), [deriveKey(oldKey)])).sealAll()
    db.close()

    s = await start(dir) // reads the row through the .next key (and re-seals it under the current one)
    try {
      expect(signedWith(await deliverOne(s, r), secret)).toBe(true)
    } finally {
      await s.stop()
    }
    const out = rotate(dir)
    expect(out.code).toBe(0)
    expect(out.stdout).toContain('completed an interrupted rotation')
    expect(readFileSync(join(dir, KEY_FILE), 'utf8').trim()).toBe(next)
    expect(existsSync(join(dir, NEXT_KEY_FILE))).toBe(false)
    expect(readFileSync(join(dir, PREVIOUS_KEY_FILE), 'utf8').trim()).toBe(oldKey)
    rmSync(join(dir, PREVIOUS_KEY_FILE))
    s = await start(dir)
    try {
      expect(sealedKeyId(rawRow(s, w.id).secret)).toBe(deriveKey(next).id)
      expect(signedWith(await deliverOne(s, r), secret)).toBe(true)
    } finally {
      await s.stop()
    }
  })

  test('MATRIC_WEBHOOK_SECRET_KEY: switching to it and rotating it (…_PREVIOUS) re-encrypt every row; a wrong key refuses to start', async () => {
    const dir = dataDir()
    const keyA = 'env-key-A-' + 'a'.repeat(40)
    const keyB = 'env-key-B-' + 'b'.repeat(40)
    let s = await start(dir) // rows sealed with the generated key file
    const r = await receiver()
    const secret = generateSecret()
    const w = await createHook(s, r.url, secret)
    await s.stop()

    // Switch to an env key: the start re-encrypts (the key file is still read).
    s = await start(dir, { MATRIC_WEBHOOK_SECRET_KEY: keyA })
    try {
      expect(sealedKeyId(rawRow(s, w.id).secret)).toBe(deriveKey(keyA).id)
      expect(signedWith(await deliverOne(s, r), secret)).toBe(true)
    } finally {
      await s.stop()
    }
    rmSync(join(dir, KEY_FILE)) // env key only from now on

    // Rotate the env key offline with the script.
    const out = rotate(dir, { MATRIC_WEBHOOK_SECRET_KEY: keyB, MATRIC_WEBHOOK_SECRET_KEY_PREVIOUS: keyA })
    expect(out.stderr).toBe('')
    expect(out.code).toBe(0)
    expect(out.stdout).toContain('1 webhook(s)')
    expect(existsSync(join(dir, KEY_FILE))).toBe(false)

    s = await start(dir, { MATRIC_WEBHOOK_SECRET_KEY: keyB })
    try {
      expect(sealedKeyId(rawRow(s, w.id).secret)).toBe(deriveKey(keyB).id)
      expect(signedWith(await deliverOne(s, r), secret)).toBe(true)
    } finally {
      await s.stop()
    }

    // The old key alone no longer opens anything: the service refuses to start (exit 2 from src/index.ts),
    // and the script refuses too, changing nothing.
    const config = loadConfig({ MATRIC_DATA_DIR: dir, MATRIC_JWT_SECRET: TEST_SECRET, MATRIC_LOG_LEVEL: 'error', MATRIC_WEBHOOK_SECRET_KEY: keyA })
    expect(() => createContext(config, { logger: createLogger('error') })).toThrow(`sealed with unknown key ${deriveKey(keyB).id}`)
    const refused = rotate(dir, { MATRIC_WEBHOOK_SECRET_KEY: keyA })
    expect(refused.code).toBe(2)
    expect(refused.stderr).toContain(`unknown key ${deriveKey(keyB).id}`)
    const proc = Bun.spawn([process.execPath, 'src/index.ts'], {
      cwd: root,
      env: { PATH: process.env.PATH ?? '', PORT: '0', HOST: '127.0.0.1', MATRIC_DATA_DIR: dir, MATRIC_JWT_SECRET: TEST_SECRET, MATRIC_WEBHOOK_SECRET_KEY: keyA },
      stdout: 'ignore',
      stderr: 'pipe',
    })
    try {
      expect(await within(proc.exited, 'the service to refuse to start', 15_000)).toBe(2)
      expect(await new Response(proc.stderr).text()).toContain(`webhook secret sealed with unknown key ${deriveKey(keyB).id}`)
    } finally {
      proc.kill()
    }
  })
})
