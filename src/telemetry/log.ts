import type { LogLevel } from '../config.ts'

export type Fields = Record<string, unknown>

export interface Logger {
  level: LogLevel
  debug(msg: string, fields?: Fields): void
  info(msg: string, fields?: Fields): void
  warn(msg: string, fields?: Fields): void
  error(msg: string, fields?: Fields): void
  enabled(level: LogLevel): boolean
}

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 }

/** Field names whose values never reach the log, at any level and at any depth. */
const SECRET_KEY = /token|secret|authorization|password|api[_-]?key|cookie|signature/i
/** A JWT anywhere in a string value. */
const JWT_LIKE = /eyJ[\w-]{5,}\.[\w-]{5,}\.[\w-]*/g

export function redact(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return value.replace(JWT_LIKE, '[redacted-jwt]')
  if (value === null || typeof value !== 'object' || depth > 6) return value
  if (value instanceof Error) return { name: value.name, message: redact(value.message, depth + 1) }
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1))
  const out: Fields = {}
  for (const [k, v] of Object.entries(value)) out[k] = SECRET_KEY.test(k) ? '[redacted]' : redact(v, depth + 1)
  return out
}

export type LogSink = (line: string) => void

const stdoutSink: LogSink = (line) => {
  process.stdout.write(line + '\n')
}

/** JSON-lines logger. `sink` is injectable so tests can capture output. */
export function createLogger(level: LogLevel, sink: LogSink = stdoutSink): Logger {
  const min = ORDER[level]
  const write = (lvl: LogLevel, msg: string, fields?: Fields) => {
    if (ORDER[lvl] < min) return
    const rec = { time: new Date().toISOString(), level: lvl, msg: redact(msg), ...(fields ? (redact(fields) as Fields) : {}) }
    sink(JSON.stringify(rec))
  }
  return {
    level,
    enabled: (lvl) => ORDER[lvl] >= min,
    debug: (m, f) => write('debug', m, f),
    info: (m, f) => write('info', m, f),
    warn: (m, f) => write('warn', m, f),
    error: (m, f) => write('error', m, f),
  }
}
