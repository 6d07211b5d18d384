import { Elysia, ValidationError } from 'elysia'
import type { Logger } from '../telemetry/log.ts'
import { ApiError, ERROR_CODES, errorResponse, type ErrorStatus } from './errors.ts'

interface Issue {
  path: string
  message: string
}

/** Summarises a TypeBox validation error into `{path, message}` issues (at most 10). */
export function validationIssues(err: ValidationError): Issue[] {
  try {
    return err.all.slice(0, 10).map((e) => ({
      path: 'path' in e && typeof e.path === 'string' ? e.path || '/' : '/',
      message: 'message' in e && typeof e.message === 'string' ? e.message : 'invalid value',
    }))
  } catch {
    return []
  }
}

/** Maps every failure to the one JSON error shape; unexpected errors are logged and become a 500. */
export function errorHandler(logger: Logger) {
  return new Elysia({ name: 'matric-errors' }).onError({ as: 'global' }, ({ code, error, request }) => {
    if (error instanceof ApiError) return errorResponse(error)
    switch (code) {
      case 'VALIDATION': {
        const ve = error as ValidationError
        const issues = validationIssues(ve)
        const first = issues[0]
        const where = ve.type === 'body' ? 'request body' : ve.type
        const msg = first ? `invalid ${where}: ${first.path} ${first.message}` : `invalid ${where}`
        return errorResponse(new ApiError(422, msg, issues))
      }
      case 'PARSE':
        return errorResponse(new ApiError(400, 'malformed request body: expected valid JSON'))
      case 'NOT_FOUND': {
        const url = new URL(request.url)
        return errorResponse(new ApiError(404, `no route for ${request.method} ${url.pathname}`))
      }
      case 'INVALID_COOKIE_SIGNATURE':
        return errorResponse(new ApiError(400, 'invalid cookie'))
    }
    const status = (error as { status?: unknown })?.status
    if (typeof status === 'number' && status in ERROR_CODES && status < 500) {
      return errorResponse(new ApiError(status as ErrorStatus, (error as Error).message || ERROR_CODES[status as ErrorStatus]))
    }
    logger.error('unhandled error', { method: request.method, path: new URL(request.url).pathname, err: error })
    return errorResponse(new ApiError(500, 'internal error'))
  })
}
