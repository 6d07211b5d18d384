/**
 * Webhook signing secrets at rest (docs/webhooks.md#secrets-at-rest): AES-256-GCM with a key kept beside
 * the JWT secret in the data dir (or given as MATRIC_WEBHOOK_SECRET_KEY).
 *
 * Stored form: `enc:v1:<key id>:<base64url(12-byte IV ‖ ciphertext ‖ 16-byte tag)>`, with the webhook id
 * as additional authenticated data, so a sealed secret cannot be moved to another webhook's row. The key
 * id (a hash prefix of the key) says which key sealed a value, so several keys can be known at once
 * (rotation, an interrupted rotation) and a wrong key is a clear error instead of garbage.
 * Values without the prefix are plaintext rows from before encryption: read as they are, and sealed at
 * the next start (see WebhookStore.sealAll).
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto'
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

export const SEALED_PREFIX = 'enc:v1:'
/** The generated key file in the data dir (mode 0600), beside `jwt-secret`. */
export const KEY_FILE = 'webhook-secret-key'
/** The key a rotation replaced: still read (decrypt only), so rows sealed by a process that was still running stay readable. */
export const PREVIOUS_KEY_FILE = 'webhook-secret-key.previous'
/** The new key of a rotation in progress; present only when a rotation was interrupted. */
export const NEXT_KEY_FILE = 'webhook-secret-key.next'
export const MIN_KEY_MATERIAL = 32
const IV_BYTES = 12
const TAG_BYTES = 16

export interface SecretKey {
  /** 16 hex characters identifying the key (not secret: a hash prefix). */
  id: string
  key: Buffer
}

/** An AES-256 key from key material (any string of at least 32 random characters): SHA-256 of its UTF-8 bytes. */
export function deriveKey(material: string): SecretKey {
  const key = createHash('sha256').update(material, 'utf8').digest()
  const id = createHash('sha256').update('matric-webhook-secret-key-id:').update(key).digest('hex').slice(0, 16)
  return { id, key }
}

/** New random key material (base64url of 32 bytes). */
export function generateKeyMaterial(): string {
  return randomBytes(32).toString('base64url')
}

export class SecretKeyError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'SecretKeyError'
  }
}

export const isSealed = (stored: string): boolean => stored.startsWith(SEALED_PREFIX)

/** The key id of a sealed value, or null for a plaintext one. */
export function sealedKeyId(stored: string): string | null {
  if (!isSealed(stored)) return null
  const rest = stored.slice(SEALED_PREFIX.length)
  const colon = rest.indexOf(':')
  return colon > 0 ? rest.slice(0, colon) : null
}

/** Seals with `current`; opens with any known key. */
export class SecretBox {
  private keys: Map<string, SecretKey>

  constructor(
    readonly current: SecretKey,
    others: readonly SecretKey[] = [],
  ) {
    this.keys = new Map([current, ...others].map((k) => [k.id, k]))
  }

  /** Ids of every key this box can open with (current first). */
  get keyIds(): string[] {
    return [...this.keys.keys()]
  }

  seal(plaintext: string, aad: string): string {
    const iv = randomBytes(IV_BYTES)
    const c = createCipheriv('aes-256-gcm', this.current.key, iv)
    c.setAAD(Buffer.from(aad, 'utf8'))
    const ct = Buffer.concat([c.update(plaintext, 'utf8'), c.final()])
    return `${SEALED_PREFIX}${this.current.id}:${Buffer.concat([iv, ct, c.getAuthTag()]).toString('base64url')}`
  }

  /** The plaintext of a stored value (plaintext rows pass through). Throws SecretKeyError when it cannot. */
  open(stored: string, aad: string): string {
    if (!isSealed(stored)) return stored
    const id = sealedKeyId(stored)
    const key = id === null ? undefined : this.keys.get(id)
    if (!key) {
      throw new SecretKeyError(`webhook secret sealed with unknown key ${id ?? '(malformed)'}; known keys: ${this.keyIds.join(', ')}`)
    }
    const raw = Buffer.from(stored.slice(SEALED_PREFIX.length + id!.length + 1), 'base64url')
    if (raw.length < IV_BYTES + TAG_BYTES) throw new SecretKeyError('webhook secret: sealed value is truncated')
    try {
      const d = createDecipheriv('aes-256-gcm', key.key, raw.subarray(0, IV_BYTES))
      d.setAAD(Buffer.from(aad, 'utf8'))
      d.setAuthTag(raw.subarray(raw.length - TAG_BYTES))
      return Buffer.concat([d.update(raw.subarray(IV_BYTES, raw.length - TAG_BYTES)), d.final()]).toString('utf8')
    } catch {
      throw new SecretKeyError(`webhook secret does not authenticate under key ${id} (tampered, or moved from another webhook)`)
    }
  }

  /** True when a stored value is plaintext or sealed with a key other than the current one. */
  needsReseal(stored: string): boolean {
    return sealedKeyId(stored) !== this.current.id
  }
}

export interface ResolvedKeys {
  box: SecretBox
  /** 'env' (MATRIC_WEBHOOK_SECRET_KEY), 'generated' on first start, 'stored' when read from the data dir. */
  source: 'env' | 'generated' | 'stored'
  path: string
  /** Every key material in use (current and decrypt-only), for the logger's never-log list. */
  materials: string[]
}

function readKeyFile(path: string): string | undefined {
  if (!existsSync(path)) return undefined
  const s = readFileSync(path, 'utf8').trim()
  if (s.length < MIN_KEY_MATERIAL) throw new SecretKeyError(`${path}: key material too short (${s.length} characters, at least ${MIN_KEY_MATERIAL})`)
  // Someone loosened the permissions: the key is for this user only.
  if ((statSync(path).mode & 0o077) !== 0) chmodSync(path, 0o600)
  return s
}

/** Writes a new key file with mode 0600; `exclusive` fails when it exists (two processes starting at once). */
export function writeKeyFile(path: string, material: string, exclusive: boolean): void {
  writeFileSync(path, material + '\n', { mode: 0o600, flag: exclusive ? 'wx' : 'w' })
  chmodSync(path, 0o600)
}

/**
 * The webhook secret keys: MATRIC_WEBHOOK_SECRET_KEY when set, else `<data dir>/webhook-secret-key`
 * (generated on first start, mode 0600). Decrypt-only: MATRIC_WEBHOOK_SECRET_KEY_PREVIOUS, the key file
 * when the env key is set (switching to the env key), `.previous` and `.next` files (rotation).
 */
export function resolveWebhookKeys(envKey: string | undefined, envPrevious: string | undefined, dataDir: string): ResolvedKeys {
  const path = join(dataDir, KEY_FILE)
  const materials: string[] = []
  let source: ResolvedKeys['source']
  let current: string
  const stored = readKeyFile(path)
  if (envKey) {
    current = envKey
    source = 'env'
  } else if (stored) {
    current = stored
    source = 'stored'
  } else {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 })
    current = generateKeyMaterial()
    try {
      writeKeyFile(path, current, true)
      source = 'generated'
    } catch (e) {
      const other = (e as NodeJS.ErrnoException).code === 'EEXIST' ? readKeyFile(path) : undefined
      if (!other) throw e
      current = other
      source = 'stored'
    }
  }
  materials.push(current)
  for (const m of [envPrevious, stored, readKeyFile(join(dataDir, PREVIOUS_KEY_FILE)), readKeyFile(join(dataDir, NEXT_KEY_FILE))]) {
    if (m && !materials.includes(m)) materials.push(m)
  }
  const [first, ...rest] = materials.map(deriveKey)
  return { box: new SecretBox(first!, rest), source, path, materials }
}
