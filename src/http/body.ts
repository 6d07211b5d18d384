import type { TSchema } from 'elysia'
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler'
import { bodyValidationError, describeIssue, type Issue } from './error-handler.ts'
import { ApiError, badRequest, clip, unprocessable } from './errors.ts'

/** Deepest nesting of arrays and objects accepted in a JSON body (the outermost value is level 1). */
export const MAX_JSON_DEPTH = 64

/** Property names refused anywhere in a body: they name (or reach) an object's prototype. */
export const RESERVED_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype'])

/** Issues reported per refused body (the rest are not computed). */
const MAX_ISSUES = 10
/** A key as it appears in an error path: long names are cut, so an error never echoes a whole key. */
const PATH_KEY_MAX = 64
const seg = (path: string, key: string | number) => `${path}/${typeof key === 'number' ? key : clip(key, PATH_KEY_MAX)}`

export const tooLarge = (limit: number, size?: number) =>
  new ApiError(413, size === undefined ? `request body exceeds the limit of ${limit} bytes` : `request body of ${size} bytes exceeds the limit of ${limit} bytes`)

/**
 * Reads a request body as bytes, refusing it (413) as soon as it passes `limit`. The app refuses an
 * oversized Content-Length before routing; this also covers chunked bodies, which carry no length.
 */
export async function readLimited(request: Request, limit: number): Promise<Uint8Array> {
  const len = request.headers.get('content-length')
  if (len !== null && Number(len) > limit) throw tooLarge(limit, Number(len))
  // With a length the server enforces it: read in one go (much cheaper than a stream reader).
  if (len !== null) return new Uint8Array(await request.arrayBuffer())
  if (!request.body) return new Uint8Array(0)
  const chunks: Uint8Array[] = []
  let size = 0
  const reader = request.body.getReader()
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    size += value.byteLength
    if (size > limit) {
      await reader.cancel().catch(() => {})
      throw tooLarge(limit)
    }
    chunks.push(value)
  }
  const out = new Uint8Array(size)
  let at = 0
  for (const c of chunks) (out.set(c, at), (at += c.byteLength))
  return out
}

/**
 * Whether JSON text nests arrays/objects deeper than `max`. One pass over the raw text, no recursion and
 * no allocation, counting brackets outside strings: it runs before JSON.parse, so a body of 100,000
 * brackets is refused in about a millisecond instead of reaching the parser and every recursive walk
 * after it (validation, its error path, logging), which blocked the event loop for seconds. Malformed
 * Only text that is not JSON can be misjudged (an unterminated string hides what follows it), and
 * JSON.parse refuses that next.
 */
export function exceedsJsonDepth(text: string, max: number): boolean {
  let depth = 0
  const n = text.length
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i)
    if (c === 0x22 /* " */) {
      // Skip the string: to the next quote that is not escaped.
      for (i++; i < n; i++) {
        const d = text.charCodeAt(i)
        if (d === 0x5c /* \ */) i++
        else if (d === 0x22) break
      }
    } else if (c === 0x5b /* [ */ || c === 0x7b /* { */) {
      if (++depth > max) return true
    } else if ((c === 0x5d /* ] */ || c === 0x7d /* } */) && depth > 0) depth-- // stray closers must not hide depth after them
  }
  return false
}

/**
 * Parses a JSON body; an empty, non-UTF-8, too deeply nested or malformed body is a 400 with a precise
 * message. (Raw surrogates cannot survive the strict UTF-8 decoding; escaped ones are checked by bodyProblem.)
 */
export function parseJsonBody(bytes: Uint8Array): unknown {
  if (bytes.byteLength === 0) throw badRequest('request body is required: expected a JSON object')
  let text: string
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes)
  } catch {
    throw badRequest('malformed request body: not valid UTF-8')
  }
  if (exceedsJsonDepth(text, MAX_JSON_DEPTH)) throw badRequest(`malformed request body: nested deeper than ${MAX_JSON_DEPTH} levels of arrays and objects`)
  try {
    return JSON.parse(text) as unknown
  } catch {
    throw badRequest('malformed request body: expected valid JSON')
  }
}

/**
 * The first value in a parsed body that no route accepts, whatever its schema: a reserved property name
 * (`__proto__`, `constructor`, `prototype`, which reach an object's prototype once code copies the body
 * with Object.assign or a merge), or a string or key holding a lone UTF-16 surrogate (`"\ud800"`: not
 * Unicode text; SQLite and every UTF-8 encoder would silently replace it with U+FFFD). Depth is bounded
 * by parseJsonBody, so the recursion is too.
 */
export function bodyProblem(value: unknown, path = ''): Issue | undefined {
  if (typeof value === 'string') return value.isWellFormed() ? undefined : { path: path || '/', message: 'contains a lone UTF-16 surrogate (not valid Unicode text)' }
  if (typeof value !== 'object' || value === null) return undefined
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const p = bodyProblem(value[i], seg(path, i))
      if (p) return p
    }
    return undefined
  }
  for (const k of Object.keys(value)) {
    if (RESERVED_KEYS.has(k)) return { path: seg(path, k), message: 'is a reserved property name' }
    if (!k.isWellFormed()) return { path: seg(path, k), message: 'is a property name with a lone UTF-16 surrogate (not valid Unicode text)' }
    const p = bodyProblem((value as Record<string, unknown>)[k], seg(path, k))
    if (p) return p
  }
  return undefined
}

/**
 * Properties a value has that its (TypeBox) object schema does not declare, where the schema says
 * `additionalProperties: false`, at any depth. Elysia would silently strip them; we refuse them so a
 * typo (`tag` for `tags`) is not quietly ignored.
 */
export function unknownProperties(schema: unknown, value: unknown, path = ''): Issue[] {
  if (typeof schema !== 'object' || schema === null || typeof value !== 'object' || value === null) return []
  const s = schema as { properties?: Record<string, unknown>; additionalProperties?: unknown; items?: unknown; anyOf?: unknown[] }
  if (Array.isArray(value)) return s.items ? value.flatMap((v, i) => unknownProperties(s.items, v, seg(path, i))) : []
  if (s.anyOf) return unknownInUnion(s.anyOf, value as Record<string, unknown>, path)
  if (!s.properties) return []
  const out: Issue[] = []
  for (const [k, v] of Object.entries(value)) {
    const sub = s.properties[k]
    if (sub === undefined) {
      if (s.additionalProperties === false) out.push({ path: seg(path, k), message: 'Unknown property' })
    } else out.push(...unknownProperties(sub, v, seg(path, k)))
    if (out.length >= MAX_ISSUES) break
  }
  return out
}

/**
 * A union (the event payloads): clean when some branch has no unknown property; otherwise the complaints of the
 * branch the value names by its `type` discriminator (or of the first object branch).
 */
function unknownInUnion(branches: unknown[], value: Record<string, unknown>, path: string): Issue[] {
  let named: Issue[] | undefined
  let first: Issue[] | undefined
  for (const b of branches) {
    const found = unknownProperties(b, value, path)
    if (!found.length) return []
    first ??= found
    const discriminator = (b as { properties?: { type?: { const?: unknown } } }).properties?.type?.const
    if (discriminator !== undefined && discriminator === value.type) named = found
  }
  return named ?? first ?? []
}

/** A copy of `value` without the properties unknownProperties reports (what Elysia's normaliser leaves to validate). */
export function withoutUnknown(schema: unknown, value: unknown): unknown {
  if (typeof schema !== 'object' || schema === null || typeof value !== 'object' || value === null) return value
  const s = schema as { properties?: Record<string, unknown>; additionalProperties?: unknown; items?: unknown; anyOf?: unknown[] }
  if (Array.isArray(value)) return s.items ? value.map((v) => withoutUnknown(s.items, v)) : value
  if (s.anyOf) return withoutUnknown(unionBranch(s.anyOf, value as Record<string, unknown>), value)
  if (!s.properties) return value
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(value)) {
    const sub = s.properties[k]
    if (sub !== undefined) out[k] = withoutUnknown(sub, v)
    else if (s.additionalProperties !== false) out[k] = v
  }
  return out
}

/** The union branch unknownInUnion judges a value by: one it fits without unknowns, else the one its `type` names, else the first. */
function unionBranch(branches: unknown[], value: Record<string, unknown>): unknown {
  let named: unknown
  for (const b of branches) {
    if (!unknownProperties(b, value).length) return b
    if ((b as { properties?: { type?: { const?: unknown } } }).properties?.type?.const === value.type) named ??= b
  }
  return named ?? branches[0]
}

/**
 * Validates a parsed body against its route schema, as Elysia would, and returns the 422 to answer, if any.
 * We validate first because Elysia's own validation error serialises the entire rejected value into its
 * message (pretty-printed, whatever NODE_ENV is): ~1 s of blocked event loop for a few MB of array where
 * an integer belongs. Here the error iterator is lazy and stops at MAX_ISSUES.
 */
export function schemaRejection(check: TypeCheck<TSchema>, schema: TSchema, value: unknown): ApiError | undefined {
  if (check.Check(value)) return undefined
  // Elysia strips undeclared properties before it validates; report a real schema error first, as it would.
  const unknown = unknownProperties(schema, value)
  const checked = unknown.length ? withoutUnknown(schema, value) : value
  if (unknown.length && check.Check(checked))
    return unprocessable(`invalid request body: ${unknown[0]!.path} is not a known property`, unknown)
  const issues: Issue[] = []
  for (const e of check.Errors(checked)) {
    issues.push(describeIssue(e))
    if (issues.length >= MAX_ISSUES) break
  }
  return bodyValidationError(issues)
}

/** Bodies refused by the parser, answered once the caller is authenticated (see `rejectInvalidBody`). */
const refused = new WeakMap<Request, ApiError>()

/**
 * Throws the 422 the parser recorded for this request, if any. Called by the REST auth macro right after
 * authentication (src/auth/plugin.ts), so an anonymous caller gets its 401 and learns nothing about the
 * schema, and Elysia's own validation never sees an invalid body; and again before the handler.
 */
export function rejectInvalidBody(request: Request): void {
  const err = refused.get(request)
  if (err) throw err
}

/**
 * Hooks for a JSON route: `...jsonBody(config.maxBodyBytes, Schema)`, next to `auth: …` (every JSON route
 * is authenticated; the auth macro answers the recorded rejection).
 * - `parse` reads the body as JSON whatever its Content-Type (curl's `-d` sends form encoding by
 *   default), within the size and depth limits (400/413), then records what is wrong with it: reserved
 *   keys or lone surrogates, the schema, unknown properties (422, in that order). The trailing `'json'`
 *   only tells the OpenAPI generator the media type; the function always answers first. With `optional`,
 *   an empty body reads as `{}`.
 * - `beforeHandle` answers the recorded 422 on a route without the auth macro.
 */
export function jsonBody(limit: number, schema: TSchema, opts: { optional?: boolean } = {}) {
  const check = TypeCompiler.Compile(schema)
  const parser = async ({ request }: { request: Request }) => {
    const bytes = await readLimited(request, limit)
    if (opts.optional && bytes.byteLength === 0) return {}
    const value = parseJsonBody(bytes)
    const problem = bodyProblem(value)
    const err = problem ? unprocessable(`invalid request body: ${problem.path} ${problem.message}`, [problem]) : schemaRejection(check, schema, value)
    if (err) refused.set(request, err)
    return value
  }
  return {
    parse: [parser, 'json' as const],
    beforeHandle({ request }: { request: Request }): void {
      rejectInvalidBody(request)
    },
  }
}
