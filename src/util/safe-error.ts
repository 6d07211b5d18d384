/**
 * A short, human-readable reason for a failure that is safe to store, log and send to clients: the error's
 * message (or its cause's code), with URLs (they may carry credentials) and the given secrets replaced, cut to
 * `max` characters. Used for job errors and webhook attempt errors alike.
 */
export function safeErrorText(err: unknown, opts: { max?: number; secrets?: readonly (string | undefined)[]; preferCode?: boolean } = {}): string {
  const max = opts.max ?? 500
  const e = err as { message?: unknown; code?: unknown; cause?: { code?: unknown; message?: unknown } } | null
  const code = typeof e?.cause?.code === 'string' ? e.cause.code : typeof e?.code === 'string' ? e.code : undefined
  let text: string
  if (opts.preferCode && code) text = code
  else {
    const msg = typeof e?.cause?.message === 'string' && opts.preferCode ? e.cause.message : err instanceof Error ? err.message : String(err)
    text = msg.replace(/https?:\/\/\S+/g, '<url>')
  }
  for (const s of opts.secrets ?? []) if (s && s.length >= 4) text = text.split(s).join('[redacted]')
  return text.length > max ? text.slice(0, max - 3) + '...' : text
}
