export type LogLevel = 'debug' | 'info' | 'warn' | 'error'

export type Fields = Record<string, unknown>

export interface Logger {
  level: LogLevel
  debug(msg: string, fields?: Fields): void
  info(msg: string, fields?: Fields): void
  warn(msg: string, fields?: Fields): void
  error(msg: string, fields?: Fields): void
  enabled(level: LogLevel): boolean
  /** Exact values (the JWT secret, API keys) that are replaced wherever they appear in a log line. */
  addSecrets(...values: (string | undefined)[]): void
}

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 }

/** Field names whose values never reach the log, at any level and at any depth. */
export const SECRET_KEY = /token|secret|authorization|passw(or)?d|api[_-]?key|cookie|signature|credential|private[_-]?key|jwt|^auth$/i

/**
 * Secret-looking substrings of any string value (messages, error texts, URLs, note titles at debug).
 * Order matters: a JWT inside `Bearer …` is caught by the JWT rule first.
 */
export const SECRET_PATTERNS: readonly (readonly [RegExp, string])[] = [
  // JWTs, also truncated ones (a note title cut after the claims): a base64url JSON header `{"…` starts with eyJ.
  [/eyJ[\w-]{5,}\.[\w-]*(?:\.[\w-]*)?/g, '[redacted-jwt]'],
  // Standard Webhooks signing secrets.
  [/whsec_[A-Za-z0-9+/=_-]+/g, 'whsec_[redacted]'],
  // Authorization header values quoted in messages ("Bearer abc…", "Basic dXNlcjpwYXNz").
  [/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{16,}/gi, '$1 [redacted]'],
  // Credentials in query strings (`?token=`, `&api_key=` …).
  [/([?&;](?:token|access_token|id_token|api[_-]?key|apikey|key|secret|password|sig|signature|auth)=)[^&\s#"']+/gi, '$1[redacted]'],
  // OpenAI-style API keys.
  [/\bsk-[A-Za-z0-9_-]{16,}/g, 'sk-[redacted]'],
]

/** Values shorter than this are not treated as exact secrets (they would mangle ordinary words). */
const MIN_SECRET_LENGTH = 8
const MAX_DEPTH = 6

function redactString(s: string, secrets: readonly string[]): string {
  let out = s
  for (const secret of secrets) if (out.includes(secret)) out = out.split(secret).join('[redacted]')
  for (const [re, replacement] of SECRET_PATTERNS) out = out.replace(re, replacement)
  return out
}

/**
 * A copy of `value` safe to log: secret-named keys become `[redacted]`, secret-looking substrings and the
 * given exact secrets are replaced, errors become `{name, message}`, bigints strings, deep or circular
 * structures are cut at depth 6.
 */
export function redact(value: unknown, secrets: readonly string[] = [], depth = 0): unknown {
  if (typeof value === 'string') return redactString(value, secrets)
  if (typeof value === 'bigint') return value.toString()
  if (value === null || typeof value !== 'object') return value
  if (depth > MAX_DEPTH) return '[truncated]'
  if (value instanceof Error) return { name: value.name, message: redactString(value.message, secrets) }
  if (Array.isArray(value)) return value.map((v) => redact(v, secrets, depth + 1))
  const out: Fields = {}
  for (const [k, v] of Object.entries(value)) out[k] = SECRET_KEY.test(k) ? '[redacted]' : redact(v, secrets, depth + 1)
  return out
}

export type LogSink = (line: string) => void

const stdoutSink: LogSink = (line) => {
  process.stdout.write(line + '\n')
}

/**
 * JSON-lines logger: `{"time","level","msg",…fields}` per line. `sink` is injectable so tests can
 * capture output. Never throws into the caller.
 */
export function createLogger(level: LogLevel, sink: LogSink = stdoutSink): Logger {
  const min = ORDER[level]
  const secrets: string[] = []
  const write = (lvl: LogLevel, msg: string, fields?: Fields) => {
    if (ORDER[lvl] < min) return
    try {
      const time = new Date().toISOString()
      const m = redactString(msg, secrets)
      const rec: Fields = { time, level: lvl, msg: m, ...(fields ? (redact(fields, secrets) as Fields) : {}) }
      // A field named like a reserved key must not overwrite it (the keys keep their first position).
      rec.time = time
      rec.level = lvl
      rec.msg = m
      sink(JSON.stringify(rec))
    } catch {
      // Logging must never break the caller (odd values, a closed stdout).
    }
  }
  return {
    level,
    enabled: (lvl) => ORDER[lvl] >= min,
    debug: (m, f) => write('debug', m, f),
    info: (m, f) => write('info', m, f),
    warn: (m, f) => write('warn', m, f),
    error: (m, f) => write('error', m, f),
    addSecrets: (...values) => {
      for (const v of values) if (v && v.length >= MIN_SECRET_LENGTH && !secrets.includes(v)) secrets.push(v)
      // Longest first, so a secret containing another is replaced whole.
      secrets.sort((a, b) => b.length - a.length)
    },
  }
}
