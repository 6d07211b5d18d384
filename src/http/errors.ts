/** The one JSON error shape: `{error, message, details?}` with a fixed code per status. */
export const ERROR_CODES = {
  400: 'bad_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  409: 'conflict',
  413: 'payload_too_large',
  422: 'unprocessable_entity',
  426: 'upgrade_required',
  429: 'too_many_requests',
  500: 'internal_error',
  503: 'service_unavailable',
} as const

export type ErrorStatus = keyof typeof ERROR_CODES

export interface ErrorBody {
  error: string
  message: string
  details?: unknown
}

export class ApiError extends Error {
  constructor(
    readonly status: ErrorStatus,
    message: string,
    readonly details?: unknown,
    readonly headers?: Record<string, string>,
  ) {
    super(message)
    this.name = 'ApiError'
  }

  get code(): string {
    return ERROR_CODES[this.status]
  }

  /** Bounded whatever went in: a message may quote client input (a path, a key, a URL). */
  body(): ErrorBody {
    const message = clip(this.message, MAX_MESSAGE)
    return this.details === undefined ? { error: this.code, message } : { error: this.code, message, details: boundDetails(this.details) }
  }
}

/** Longest message, string inside details, and list of details in an error body. */
const MAX_MESSAGE = 1024
const MAX_DETAIL_STRING = 256
const MAX_DETAILS = 10

/** `s` cut to `max` characters (an ellipsis marks the cut), without splitting a surrogate pair. */
export function clip(s: string, max: number): string {
  if (s.length <= max) return s
  let end = max - 1
  const c = s.charCodeAt(end - 1)
  if (c >= 0xd800 && c <= 0xdbff) end--
  return s.slice(0, end) + '\u2026'
}

function boundDetails(d: unknown, depth = 0): unknown {
  if (typeof d === 'string') return clip(d, MAX_DETAIL_STRING)
  if (typeof d !== 'object' || d === null) return d
  if (depth >= 3) return '[truncated]'
  if (Array.isArray(d)) return d.slice(0, MAX_DETAILS).map((v) => boundDetails(v, depth + 1))
  return Object.fromEntries(Object.entries(d).slice(0, MAX_DETAILS).map(([k, v]) => [clip(k, MAX_DETAIL_STRING), boundDetails(v, depth + 1)]))
}

export const badRequest = (m: string, d?: unknown) => new ApiError(400, m, d)
export const unauthorized = (m: string) => new ApiError(401, m, undefined, { 'www-authenticate': 'Bearer' })
export const forbidden = (m: string) => new ApiError(403, m)
export const notFound = (m: string) => new ApiError(404, m)
export const conflict = (m: string) => new ApiError(409, m)
export const unprocessable = (m: string, d?: unknown) => new ApiError(422, m, d)

export function errorResponse(err: ApiError): Response {
  return Response.json(err.body(), { status: err.status, headers: err.headers })
}
