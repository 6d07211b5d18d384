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

  body(): ErrorBody {
    return this.details === undefined
      ? { error: this.code, message: this.message }
      : { error: this.code, message: this.message, details: this.details }
  }
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
