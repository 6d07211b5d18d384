import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

export interface ResolvedSecret {
  key: Uint8Array
  /** 'env' when MATRIC_JWT_SECRET is set; 'generated' on first start; 'stored' when reused from the data dir. */
  source: 'env' | 'generated' | 'stored'
  path?: string
}

export const SECRET_FILE = 'jwt-secret'

/** MATRIC_JWT_SECRET, else the secret kept in the data dir (created with mode 0600 on first start). */
export function resolveSecret(envSecret: string | undefined, dataDir: string): ResolvedSecret {
  if (envSecret) return { key: new TextEncoder().encode(envSecret), source: 'env' }
  const path = join(dataDir, SECRET_FILE)
  if (existsSync(path)) {
    const s = readFileSync(path, 'utf8').trim()
    if (s.length >= 32) return { key: new TextEncoder().encode(s), source: 'stored', path }
  }
  mkdirSync(dataDir, { recursive: true })
  const s = Buffer.from(crypto.getRandomValues(new Uint8Array(48))).toString('base64url')
  writeFileSync(path, s + '\n', { mode: 0o600 })
  chmodSync(path, 0o600)
  return { key: new TextEncoder().encode(s), source: 'generated', path }
}
