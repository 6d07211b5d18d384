import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

export interface ResolvedSecret {
  key: Uint8Array
  /** 'env' when MATRIC_JWT_SECRET is set; 'generated' on first start; 'stored' when reused from the data dir. */
  source: 'env' | 'generated' | 'stored'
  path?: string
}

export const SECRET_FILE = 'jwt-secret'
const MIN_LENGTH = 32

function readStored(path: string): string | undefined {
  if (!existsSync(path)) return undefined
  const s = readFileSync(path, 'utf8').trim()
  if (s.length < MIN_LENGTH) return undefined
  // Someone loosened the permissions: a signing secret is for this user only.
  if ((statSync(path).mode & 0o077) !== 0) chmodSync(path, 0o600)
  return s
}

/** MATRIC_JWT_SECRET, else the secret kept in the data dir (created with mode 0600 on first start). */
export function resolveSecret(envSecret: string | undefined, dataDir: string): ResolvedSecret {
  if (envSecret) return { key: new TextEncoder().encode(envSecret), source: 'env' }
  const path = join(dataDir, SECRET_FILE)
  const stored = readStored(path)
  if (stored) return { key: new TextEncoder().encode(stored), source: 'stored', path }
  mkdirSync(dataDir, { recursive: true, mode: 0o700 })
  const s = Buffer.from(crypto.getRandomValues(new Uint8Array(48))).toString('base64url')
  try {
    // Exclusive create: when two processes start at once (server and `npm run token`), one secret wins.
    writeFileSync(path, s + '\n', { mode: 0o600, flag: existsSync(path) ? 'w' : 'wx' })
  } catch (e) {
    const other = (e as NodeJS.ErrnoException).code === 'EEXIST' ? readStored(path) : undefined
    if (other) return { key: new TextEncoder().encode(other), source: 'stored', path }
    throw e
  }
  chmodSync(path, 0o600)
  return { key: new TextEncoder().encode(s), source: 'generated', path }
}
