import type { TSchema } from 'elysia'
import { ApiError, badRequest, unprocessable } from './errors.ts'

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

/** Parses a JSON body; an empty, non-UTF-8 or malformed body is a 400 with a precise message. */
export function parseJsonBody(bytes: Uint8Array): unknown {
  if (bytes.byteLength === 0) throw badRequest('request body is required: expected a JSON object')
  let text: string
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes)
  } catch {
    throw badRequest('malformed request body: not valid UTF-8')
  }
  try {
    return JSON.parse(text) as unknown
  } catch {
    throw badRequest('malformed request body: expected valid JSON')
  }
}

/**
 * Properties a value has that its (TypeBox) object schema does not declare, where the schema says
 * `additionalProperties: false`, at any depth. Elysia would silently strip them; we refuse them so a
 * typo (`tag` for `tags`) is not quietly ignored.
 */
export function unknownProperties(schema: unknown, value: unknown, path = ''): { path: string; message: string }[] {
  if (typeof schema !== 'object' || schema === null || typeof value !== 'object' || value === null) return []
  const s = schema as { properties?: Record<string, unknown>; additionalProperties?: unknown; items?: unknown; anyOf?: unknown[] }
  if (Array.isArray(value)) return s.items ? value.flatMap((v, i) => unknownProperties(s.items, v, `${path}/${i}`)) : []
  if (s.anyOf) return unknownInUnion(s.anyOf, value as Record<string, unknown>, path)
  if (!s.properties) return []
  const out: { path: string; message: string }[] = []
  for (const [k, v] of Object.entries(value)) {
    const sub = s.properties[k]
    if (sub === undefined) {
      if (s.additionalProperties === false) out.push({ path: `${path}/${k}`, message: 'Unknown property' })
    } else out.push(...unknownProperties(sub, v, `${path}/${k}`))
  }
  return out
}

/**
 * A union (the event payloads): clean when some branch has no unknown property; otherwise the complaints of the
 * branch the value names by its `type` discriminator (or of the first object branch).
 */
function unknownInUnion(branches: unknown[], value: Record<string, unknown>, path: string): { path: string; message: string }[] {
  let named: { path: string; message: string }[] | undefined
  let first: { path: string; message: string }[] | undefined
  for (const b of branches) {
    const found = unknownProperties(b, value, path)
    if (!found.length) return []
    first ??= found
    const discriminator = (b as { properties?: { type?: { const?: unknown } } }).properties?.type?.const
    if (discriminator !== undefined && discriminator === value.type) named = found
  }
  return named ?? first ?? []
}

/**
 * Hooks for a JSON route: `...jsonBody(config.maxBodyBytes, Schema)`.
 * - `parse` reads the body as JSON whatever its Content-Type (curl's `-d` sends form encoding by
 *   default), within the size limit (400/413). The trailing `'json'` only tells the OpenAPI generator
 *   the media type; the function always answers first. With `optional`, an empty body reads as `{}`.
 * - `beforeHandle` refuses unknown properties (422). It runs after authentication and schema
 *   validation, so an anonymous caller learns nothing about the schema.
 */
export function jsonBody(limit: number, schema: TSchema, opts: { optional?: boolean } = {}) {
  const unknownOf = new WeakMap<Request, { path: string; message: string }[]>()
  const parser = async ({ request }: { request: Request }) => {
    const bytes = await readLimited(request, limit)
    if (opts.optional && bytes.byteLength === 0) return {}
    const value = parseJsonBody(bytes)
    const unknown = unknownProperties(schema, value)
    if (unknown.length) unknownOf.set(request, unknown)
    return value
  }
  return {
    parse: [parser, 'json' as const],
    beforeHandle({ request }: { request: Request }): void {
      const unknown = unknownOf.get(request)
      if (unknown) throw unprocessable(`invalid request body: ${unknown[0]!.path} is not a known property`, unknown.slice(0, 10))
    },
  }
}
