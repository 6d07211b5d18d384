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

/**
 * Whether a request may use an ambient credential (the `matric_token` cookie, which a browser attaches to
 * any page's WebSocket or EventSource request): no `Origin` (not a browser), the same origin (Origin's
 * host:port equals the Host header; the scheme is not compared because a TLS proxy in front changes it),
 * or an origin listed in MATRIC_ALLOWED_ORIGINS. Everything else, `Origin: null` included, is cross-site.
 */
export function ambientCredentialAllowed(allowed: readonly string[] | undefined, origin: string | null, host: string | null): boolean {
  if (origin === null) return true
  const o = normaliseOrigin(origin)
  if (o === null) return false
  if (host && new URL(o).host === normaliseHost(host)) return true
  return !!allowed && allowed.some((a) => normaliseOrigin(a) === o)
}

/** A Host header as URL.host renders it (lower case, `:80` dropped), or null when it is not a host. */
function normaliseHost(host: string): string | null {
  try {
    return new URL(`http://${host.trim()}`).host
  } catch {
    return null
  }
}
