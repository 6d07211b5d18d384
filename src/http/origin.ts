/**
 * `MATRIC_ALLOWED_ORIGINS`: with a list configured, a request carrying an `Origin` that is not listed is
 * refused. No list, or no `Origin` header (not a browser), passes. Compared as normalised origins.
 */
export function originAllowed(allowed: readonly string[] | undefined, origin: string | null): boolean {
  if (!allowed || origin === null) return true
  const o = normaliseOrigin(origin)
  return o !== null && allowed.some((a) => normaliseOrigin(a) === o)
}

function normaliseOrigin(origin: string): string | null {
  try {
    const u = new URL(origin)
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.origin : null
  } catch {
    return null // e.g. the opaque origin "null"
  }
}
