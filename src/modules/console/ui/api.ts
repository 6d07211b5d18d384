/** The API as this principal sees it: its token (sessionStorage) or none (cookie / local mode), one memory. */

export const TOKEN_KEY = 'matric_console_token'
export const MEMORY_KEY = 'matric_console_memory'

export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message)
  }
}

export interface Session {
  token: string | null
  memory: string
}

export const session: Session = { token: sessionStorage.getItem(TOKEN_KEY), memory: sessionStorage.getItem(MEMORY_KEY) || 'default' }

export function setToken(token: string | null): void {
  session.token = token
  if (token) sessionStorage.setItem(TOKEN_KEY, token)
  else sessionStorage.removeItem(TOKEN_KEY)
}

export function setMemory(memory: string): void {
  session.memory = memory
  sessionStorage.setItem(MEMORY_KEY, memory)
}

export function authHeaders(): Record<string, string> {
  const h: Record<string, string> = { 'x-matric-memory': session.memory }
  if (session.token) h.authorization = `Bearer ${session.token}`
  return h
}

/** JSON request to this origin; throws ApiFailure with the server's message on a non-2xx answer. */
export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers = authHeaders()
  if (body !== undefined) headers['content-type'] = 'application/json'
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'same-origin', cache: 'no-store' })
  if (res.status === 204) return undefined as T
  const text = await res.text()
  let json: unknown = null
  try {
    json = text ? JSON.parse(text) : null
  } catch {
    /* not JSON */
  }
  if (!res.ok) {
    const msg = (json as { message?: string } | null)?.message ?? (text.slice(0, 200) || res.statusText)
    throw new ApiFailure(res.status, msg)
  }
  return json as T
}

/** The `memory` claim of a JWT, read without verifying (only to offer choices; the API decides). */
export function tokenMemories(token: string | null): string[] {
  if (!token) return []
  try {
    const part = token.split('.')[1] ?? ''
    const claims = JSON.parse(atob(part.replace(/-/g, '+').replace(/_/g, '/'))) as { memory?: unknown }
    const m = claims.memory
    if (m === undefined) return ['default']
    if (typeof m === 'string') return m === '*' ? [] : [m]
    return Array.isArray(m) ? m.filter((x): x is string => typeof x === 'string' && x !== '*') : []
  } catch {
    return []
  }
}
