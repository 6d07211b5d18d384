import { Elysia, ValidationError } from 'elysia'
import { isStoreUnavailable } from '../store/unavailable.ts'
import type { Logger } from '../telemetry/log.ts'
import { ApiError, ERROR_CODES, errorResponse, type ErrorStatus } from './errors.ts'

export interface Issue {
  path: string
  message: string
}

type Schema = Record<string, unknown>

const isSchema = (v: unknown): v is Schema => typeof v === 'object' && v !== null

function range(s: Schema): string {
  const min = typeof s.minimum === 'number' ? s.minimum : undefined
  const max = typeof s.maximum === 'number' ? s.maximum : undefined
  if (min !== undefined && max !== undefined) return ` between ${min} and ${max}`
  if (min !== undefined) return ` ≥ ${min}`
  if (max !== undefined) return ` ≤ ${max}`
  return ''
}

/** A short human description of what a (TypeBox) schema accepts: `one of 'a', 'b'`, `an integer between 1 and 200`… */
export function describeSchema(s: Schema): string {
  if ('const' in s) return JSON.stringify(s.const).replace(/^"(.*)"$/, "'$1'")
  const alts = Array.isArray(s.anyOf) ? s.anyOf.filter(isSchema) : undefined
  if (alts) {
    if (alts.length && alts.every((a) => 'const' in a)) return `one of ${alts.map(describeSchema).join(', ')}`
    // Elysia coerces numeric query values with a union of a numeric string and the number itself.
    const numeric = alts.find((a) => a.type === 'integer' || a.type === 'number')
    if (numeric && alts.every((a) => a === numeric || (a.type === 'string' && (a.format === 'integer' || a.format === 'numeric'))))
      return describeSchema({ ...numeric, ...('minimum' in s ? { minimum: s.minimum } : {}), ...('maximum' in s ? { maximum: s.maximum } : {}) })
    return [...new Set(alts.map(describeSchema))].join(' or ')
  }
  switch (s.type) {
    case 'integer':
      return `an integer${range(s)}`
    case 'number':
      return `a number${range(s)}`
    case 'string':
      return typeof s.format === 'string' ? `a ${s.format} string` : 'a string'
    case 'boolean':
      return 'a boolean'
    case 'null':
      return 'null'
    case 'array':
      return 'an array'
    case 'object':
      return 'an object'
  }
  return 'a valid value'
}

/**
 * A union of objects told apart by their `type` (the event payloads): when the value names a type outside it, say
 * which types are accepted; when it names one of them, the value is that type's object with a bad field.
 */
function discriminatedUnionMessage(s: Schema, value: unknown): string | undefined {
  const alts = Array.isArray(s.anyOf) ? s.anyOf.filter(isSchema) : []
  const types = alts.map((a) => (isSchema(a.properties) && isSchema(a.properties.type) ? a.properties.type.const : undefined))
  if (!types.length || types.some((t) => typeof t !== 'string')) return undefined
  const given = isSchema(value) ? value.type : undefined
  const list = types.map((t) => `'${String(t)}'`).join(', ')
  if (typeof given !== 'string' || !types.includes(given)) return `Expected an object whose type is one of ${list}${typeof given === 'string' ? ` (got '${given.slice(0, 64)}')` : ''}`
  return `Expected a valid ${given} object (see the event catalog in docs/sse.md)`
}

/** One validation error as `{path, message}`; a union failure says what the alternatives were. */
export function describeIssue(e: { path?: unknown; message?: unknown; schema?: unknown; value?: unknown }): Issue {
  const path = typeof e.path === 'string' && e.path ? e.path : '/'
  let message = typeof e.message === 'string' ? e.message : 'invalid value'
  if (message === 'Expected union value' && isSchema(e.schema)) message = discriminatedUnionMessage(e.schema, e.value) ?? `Expected ${describeSchema(e.schema)}`
  return { path, message }
}

/** Summarises a TypeBox validation error into `{path, message}` issues (at most 10). */
export function validationIssues(err: ValidationError): Issue[] {
  try {
    return err.all.slice(0, 10).map((e) => describeIssue(e as { path?: unknown; message?: unknown; schema?: unknown; value?: unknown }))
  } catch {
    return []
  }
}

/**
 * Elysia reports a query value that failed after coercion (e.g. `limit=0` for an integer ≥ 1) as a
 * 'property' error without its name; find the parameter whose raw value is the rejected one.
 */
export function guessQueryParam(url: URL, value: unknown): string | undefined {
  for (const [k, v] of url.searchParams) if (v === String(value)) return k
  return undefined
}

/** The 422 for a request validation failure: `invalid <where>: <path> <message>` with every issue as details. */
export function validationError(ve: ValidationError, url: URL): ApiError {
  let issues = validationIssues(ve)
  let where: string = ve.type === 'body' ? 'request body' : ve.type
  if (ve.type === 'property') {
    const name = guessQueryParam(url, ve.value)
    where = 'query'
    issues = issues.map((i) => ({ ...i, path: name && i.path === '/' ? `/${name}` : i.path }))
  }
  return issuesError(where, issues)
}

/** The 422 for a body that fails its schema (see http/body.ts, which validates bodies before Elysia does). */
export function bodyValidationError(issues: Issue[]): ApiError {
  return issuesError('request body', issues)
}

function issuesError(where: string, issues: Issue[]): ApiError {
  const first = issues[0]
  const msg = first ? `invalid ${where}: ${first.path} ${first.message}` : `invalid ${where}`
  return new ApiError(422, msg, issues)
}

/** Maps every failure to the one JSON error shape; unexpected errors are logged and become a 500. */
export function errorHandler(logger: Logger) {
  return new Elysia({ name: 'matric-errors' }).onError({ as: 'global' }, ({ code, error, request }) => {
    if (error instanceof ApiError) return errorResponse(error)
    switch (code) {
      case 'VALIDATION': {
        const ve = error as ValidationError
        // A response that breaks its own schema is a server bug, not the client's fault.
        if (ve.type === 'response') break
        return errorResponse(validationError(ve, new URL(request.url)))
      }
      case 'PARSE': {
        // Our body parsers (http/body.ts) throw precise 400/413s; Elysia wraps them in a ParseError.
        const cause = (error as Error).cause
        if (cause instanceof ApiError) return errorResponse(cause)
        return errorResponse(new ApiError(400, 'malformed request body: expected valid JSON'))
      }
      case 'NOT_FOUND': {
        const url = new URL(request.url)
        return errorResponse(new ApiError(404, `no route for ${request.method} ${url.pathname}`))
      }
      case 'INVALID_COOKIE_SIGNATURE':
        return errorResponse(new ApiError(400, 'invalid cookie'))
    }
    const status = (error as { status?: unknown })?.status
    if (code !== 'VALIDATION' && typeof status === 'number' && status in ERROR_CODES && status < 500) {
      return errorResponse(new ApiError(status as ErrorStatus, (error as Error).message || ERROR_CODES[status as ErrorStatus]))
    }
    if (isStoreUnavailable(error)) {
      logger.warn('store unavailable', { method: request.method, path: new URL(request.url).pathname, err: error })
      return errorResponse(new ApiError(503, 'the store is unavailable right now; retry shortly', undefined, { 'retry-after': '5' }))
    }
    logger.error('unhandled error', { method: request.method, path: new URL(request.url).pathname, code, err: error })
    return errorResponse(new ApiError(500, 'internal error'))
  })
}
