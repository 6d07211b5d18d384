import { badRequest, forbidden } from '../http/errors.ts'

export type Scope = 'read' | 'write' | 'admin'

/** Who is calling, resolved from a verified token (or local mode). */
export interface Principal {
  sub: string
  scopes: ReadonlySet<Scope>
  /** `'*'` = every memory. */
  memories: '*' | readonly string[]
  /** Tag restriction: only notes carrying at least one of these tags are visible. null = unrestricted. */
  tags: readonly string[] | null
  /** Seconds since epoch; undefined = never expires (local mode). */
  exp?: number
  /** Token id (jti), present on stream tokens. */
  jti?: string
  /** true for short-lived read-only stream tokens (audience `event-stream`). */
  stream: boolean
  /** The tenant the token was issued for (`tenant` or `tenant_id` claim); undefined = this deployment's. */
  tenant?: string
}

export const STREAM_AUDIENCE = 'event-stream'
export const MEMORY_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/
const TAG_MAX = 100

/** Expands `scope` claim: admin implies write and read, write implies read. */
export function parseScopes(scope: unknown): Set<Scope> {
  const out = new Set<Scope>()
  const words = typeof scope === 'string' ? scope.split(/\s+/) : Array.isArray(scope) ? scope : []
  for (const w of words) {
    if (w === 'admin') out.add('admin').add('write').add('read')
    else if (w === 'write') out.add('write').add('read')
    else if (w === 'read') out.add('read')
  }
  return out
}

export class ClaimsError extends Error {}

/** Turns verified JWT claims into a Principal; throws ClaimsError on malformed claims. */
export function principalFromClaims(claims: Record<string, unknown>): Principal {
  const sub = claims.sub
  if (typeof sub !== 'string' || !sub) throw new ClaimsError('token has no subject (sub)')
  const m = claims.memory
  let memories: '*' | string[]
  if (m === undefined) memories = ['default']
  else if (m === '*') memories = '*'
  else if (typeof m === 'string') memories = [m]
  else if (Array.isArray(m) && m.every((x) => typeof x === 'string')) memories = m.includes('*') ? '*' : (m as string[])
  else throw new ClaimsError('memory claim must be a string or an array of strings')
  const t = claims.tags
  let tags: string[] | null = null
  if (t !== undefined && t !== null) {
    if (!Array.isArray(t) || !t.every((x) => typeof x === 'string') || t.length > TAG_MAX)
      throw new ClaimsError('tags claim must be an array of strings')
    tags = t as string[]
  }
  const tenantClaim = claims.tenant ?? claims.tenant_id
  if (tenantClaim !== undefined && (typeof tenantClaim !== 'string' || !tenantClaim)) throw new ClaimsError('tenant claim must be a non-empty string')
  const aud = claims.aud
  const stream = aud === STREAM_AUDIENCE || (Array.isArray(aud) && aud.includes(STREAM_AUDIENCE))
  return {
    sub,
    scopes: parseScopes(claims.scope),
    memories,
    tags,
    exp: typeof claims.exp === 'number' ? claims.exp : undefined,
    jti: typeof claims.jti === 'string' ? claims.jti : undefined,
    stream,
    ...(tenantClaim !== undefined ? { tenant: tenantClaim as string } : {}),
  }
}

export const LOCAL_PRINCIPAL: Principal = Object.freeze({
  sub: 'local',
  scopes: new Set<Scope>(['admin', 'write', 'read']),
  memories: '*',
  tags: null,
  stream: false,
})

export function hasScope(p: Principal, s: Scope): boolean {
  return p.scopes.has(s)
}

export function grantsMemory(p: Principal, memory: string): boolean {
  return p.memories === '*' || p.memories.includes(memory)
}

/**
 * The memory a request acts on: the one asked for (header or query), else the token's only memory,
 * else `default`. Throws 400 for a malformed name and 403 for a memory the token does not grant.
 */
export function selectMemory(p: Principal, requested: string | undefined | null): string {
  let memory = requested ?? undefined
  if (memory === undefined || memory === '') memory = p.memories !== '*' && p.memories.length === 1 ? p.memories[0]! : 'default'
  if (!MEMORY_RE.test(memory)) throw badRequest(`invalid memory name ${JSON.stringify(memory.slice(0, 80))}`)
  if (!grantsMemory(p, memory)) throw forbidden(`token does not grant memory '${memory}'`)
  return memory
}

/**
 * A stable, unambiguous key for a tag restriction (order and duplicates don't matter): the sorted set as JSON, so
 * no tag — whatever characters it holds — can make two different restrictions share a key.
 */
export function tagSetKey(tags: readonly string[]): string {
  return JSON.stringify([...new Set(tags)].sort())
}

/** Whether a tag-restricted principal may see something carrying `tags` (null = not note-scoped). */
export function canSeeTags(restriction: readonly string[] | null, tags: readonly string[] | null): boolean {
  if (restriction === null) return true
  if (tags === null) return false
  for (const t of tags) if (restriction.includes(t)) return true
  return false
}

export function requireScope(p: Principal, s: Scope): void {
  if (!hasScope(p, s)) throw forbidden(`token lacks the '${s}' scope`)
}
