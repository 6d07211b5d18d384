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

/** Whether a bind address only accepts connections from this machine (127.0.0.0/8, ::1, localhost). */
export function isLoopbackHost(host: string): boolean {
  const h = host.trim().toLowerCase().replace(/^\[(.*)\]$/, '$1')
  if (h === 'localhost' || h === '::1' || h === '0:0:0:0:0:0:0:1') return true
  const v4 = /^(?:::ffff:)?(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(h)
  return v4 !== null && v4[1] === '127' && v4.slice(2).every((o) => Number(o) <= 255)
}

/** Whether a Host header names this machine (localhost, 127.0.0.0/8, ::1), port aside. */
export function loopbackHostHeader(host: string | null): boolean {
  if (!host) return false
  try {
    return isLoopbackHost(new URL(`http://${host.trim()}`).hostname)
  } catch {
    return false
  }
}

/**
 * Whether a browser request may act as the anonymous local admin (`MATRIC_AUTH=off`): no `Origin` (not a
 * browser); or a listed origin; or the same origin on a loopback host. Same-origin alone is not enough: a page
 * of attacker.example that DNS-rebinds its name to 127.0.0.1 is "same-origin" by the Host header.
 */
export function anonymousLocalAllowed(allowed: readonly string[] | undefined, origin: string | null, host: string | null): boolean {
  if (origin === null) return true
  const o = normaliseOrigin(origin)
  if (o !== null && allowed?.some((a) => normaliseOrigin(a) === o)) return true
  return loopbackHostHeader(host) && ambientCredentialAllowed(undefined, origin, host)
}
