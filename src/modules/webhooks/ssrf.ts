/**
 * SSRF guard for webhook targets (docs/webhooks.md#ssrf-protection): pure address classification plus
 * one DNS step, and the pinning of the connection to the address that was checked.
 *
 * A target is allowed only when it is an http(s) URL without credentials whose host — an IP literal or
 * every address its name resolves to — is a public unicast address. Loopback, private (RFC 1918, ULA),
 * link-local, CGNAT, multicast, unspecified, broadcast, reserved/documentation ranges, cloud metadata
 * endpoints and IPv6 forms that embed such an IPv4 address are refused.
 */
import { lookup as dnsLookup } from 'node:dns/promises'

export type AddressClass =
  | 'public'
  | 'loopback'
  | 'private'
  | 'link-local'
  | 'cgnat'
  | 'multicast'
  | 'unspecified'
  | 'broadcast'
  | 'metadata'
  | 'reserved'

export const MAX_URL_LENGTH = 2048

/** Cloud metadata endpoints, refused by name in the error so operators see why. */
const METADATA_V4 = new Set(['169.254.169.254', '169.254.170.2', '169.254.169.123', '100.100.100.200', '192.0.0.192'])
const METADATA_V6 = new Set(['fd00:ec2:0:0:0:0:0:254'])

/** Strict dotted-quad (what the WHATWG URL parser and DNS answers produce). */
export function parseIPv4(s: string): number[] | null {
  const parts = s.split('.')
  if (parts.length !== 4) return null
  const out: number[] = []
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p)) return null
    const n = Number(p)
    if (n > 255 || (p.length > 1 && p[0] === '0')) return null
    out.push(n)
  }
  return out
}

/**
 * inet_aton-style IPv4 (`2130706433`, `0x7f.1`, `0177.0.0.1`, `127.1`): 1–4 parts, each decimal,
 * `0`-prefixed octal or `0x` hex; the last part fills the remaining bytes. The URL parser already
 * normalises these in hostnames; this catches them anywhere else (defence in depth).
 */
export function parseIPv4Loose(s: string): number[] | null {
  const host = s.endsWith('.') ? s.slice(0, -1) : s
  const parts = host.split('.')
  if (parts.length < 1 || parts.length > 4) return null
  const nums: number[] = []
  for (const p of parts) {
    let n: number
    if (/^0x[0-9a-f]*$/i.test(p)) n = p.length === 2 ? 0 : parseInt(p.slice(2), 16)
    else if (/^0[0-7]+$/.test(p)) n = parseInt(p, 8)
    else if (/^(0|[1-9]\d*)$/.test(p)) n = Number(p)
    else return null
    if (!Number.isFinite(n)) return null
    nums.push(n)
  }
  const last = nums.pop()!
  for (const n of nums) if (n > 255) return null
  if (last >= 256 ** (4 - nums.length)) return null
  const out = [...nums]
  for (let i = 3 - nums.length; i >= 0; i--) out.push(Math.floor(last / 256 ** i) % 256)
  return out
}

/** Parses an IPv6 literal (no brackets, no zone id) to 16 bytes; null when it is not one. */
export function parseIPv6(s: string): Uint8Array | null {
  if (!s.includes(':') || s.includes('%')) return null
  let text = s.toLowerCase()
  let tail: number[] = []
  const lastColon = text.lastIndexOf(':')
  if (text.slice(lastColon + 1).includes('.')) {
    const v4 = parseIPv4(text.slice(lastColon + 1))
    if (!v4) return null
    tail = v4
    text = text.slice(0, lastColon + 1) + '0:0'
  }
  const halves = text.split('::')
  if (halves.length > 2) return null
  const group = (h: string) => (h === '' ? [] : h.split(':'))
  const head = group(halves[0]!)
  const rest = halves.length === 2 ? group(halves[1]!) : []
  const groups = head.length + rest.length
  if (halves.length === 1 ? groups !== 8 : groups > 7) return null
  const all = [...head, ...Array<string>(8 - groups).fill('0'), ...rest]
  const out = new Uint8Array(16)
  for (let i = 0; i < 8; i++) {
    const g = all[i]!
    if (!/^[0-9a-f]{1,4}$/.test(g)) return null
    const n = parseInt(g, 16)
    out[i * 2] = n >> 8
    out[i * 2 + 1] = n & 0xff
  }
  if (tail.length) out.set(tail, 12)
  return out
}

const inV4 = (b: readonly number[], net: readonly number[], bits: number): boolean => {
  for (let i = 0; i < 4 && bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff
    if ((b[i]! & mask) !== (net[i]! & mask)) return false
  }
  return true
}

/** Classifies an IPv4 address given as 4 bytes. */
export function classifyIPv4(b: readonly number[]): AddressClass {
  if (METADATA_V4.has(b.join('.'))) return 'metadata'
  if (b[0] === 0) return 'unspecified' // 0.0.0.0/8 "this network"; connecting to 0.0.0.0 reaches localhost
  if (b[0] === 127) return 'loopback'
  if (b[0] === 10 || inV4(b, [172, 16, 0, 0], 12) || inV4(b, [192, 168, 0, 0], 16)) return 'private'
  if (inV4(b, [169, 254, 0, 0], 16)) return 'link-local'
  if (inV4(b, [100, 64, 0, 0], 10)) return 'cgnat'
  if (b[0]! >= 224 && b[0]! <= 239) return 'multicast'
  if (b.every((x) => x === 255)) return 'broadcast'
  if (
    b[0]! >= 240 || // 240.0.0.0/4 reserved
    inV4(b, [192, 0, 0, 0], 24) || // IETF protocol assignments
    inV4(b, [192, 0, 2, 0], 24) ||
    inV4(b, [198, 51, 100, 0], 24) ||
    inV4(b, [203, 0, 113, 0], 24) || // documentation
    inV4(b, [198, 18, 0, 0], 15) || // benchmarking
    inV4(b, [192, 88, 99, 0], 24) // 6to4 relay anycast
  )
    return 'reserved'
  return 'public'
}

function v6Text(b: Uint8Array): string {
  const g: string[] = []
  for (let i = 0; i < 16; i += 2) g.push(((b[i]! << 8) | b[i + 1]!).toString(16))
  return g.join(':')
}

/** Classifies an IPv6 address given as 16 bytes; forms embedding an IPv4 address are judged by it. */
export function classifyIPv6(b: Uint8Array): AddressClass {
  const zero = (from: number, to: number) => b.subarray(from, to).every((x) => x === 0)
  const v4 = (at: number) => classifyIPv4([...b.subarray(at, at + 4)])
  if (METADATA_V6.has(v6Text(b))) return 'metadata'
  if (zero(0, 16)) return 'unspecified'
  if (zero(0, 15) && b[15] === 1) return 'loopback'
  if (zero(0, 10) && b[10] === 0xff && b[11] === 0xff) return v4(12) // ::ffff:a.b.c.d (IPv4-mapped)
  if (zero(0, 12)) return v4(12) // ::a.b.c.d (IPv4-compatible, deprecated)
  if (zero(0, 8) && b[8] === 0xff && b[9] === 0xff && zero(10, 12)) return v4(12) // ::ffff:0:a.b.c.d (IPv4-translated)
  if (b[0] === 0x00 && b[1] === 0x64 && b[2] === 0xff && b[3] === 0x9b) {
    if (zero(4, 12)) return v4(12) // 64:ff9b::/96 NAT64
    if (b[4] === 0x00 && b[5] === 0x01) return 'private' // 64:ff9b:1::/48 local-use NAT64
  }
  if (b[0] === 0x20 && b[1] === 0x02) return v4(2) // 2002::/16 6to4
  if (b[0] === 0xff) return 'multicast'
  if (b[0] === 0xfe && (b[1]! & 0xc0) === 0x80) return 'link-local'
  if (b[0] === 0xfe && (b[1]! & 0xc0) === 0xc0) return 'private' // fec0::/10 site-local (deprecated)
  if ((b[0]! & 0xfe) === 0xfc) return 'private' // fc00::/7 unique local
  if (b[0] === 0x20 && b[1] === 0x01 && b[2] === 0x0d && b[3] === 0xb8) return 'reserved' // documentation
  if (b[0] === 0x20 && b[1] === 0x01 && b[2] === 0x00 && b[3] === 0x00) return 'reserved' // Teredo tunnels
  if ((b[0]! & 0xe0) !== 0x20) return 'reserved' // outside 2000::/3 global unicast
  return 'public'
}

/** Classifies an IP literal (IPv4 in any inet_aton spelling, IPv6 with or without brackets); null when not an IP. */
export function classifyAddress(ip: string): AddressClass | null {
  const s = ip.startsWith('[') && ip.endsWith(']') ? ip.slice(1, -1) : ip
  const v6 = parseIPv6(s)
  if (v6) return classifyIPv6(v6)
  const v4 = parseIPv4Loose(s)
  return v4 ? classifyIPv4(v4) : null
}

export type UrlCheck = { ok: true; url: URL } | { ok: false; reason: string }

/** Syntax rules for a webhook URL: absolute http(s), no credentials, not too long. */
export function checkUrlSyntax(raw: string): UrlCheck {
  if (raw.length > MAX_URL_LENGTH) return { ok: false, reason: `url is longer than ${MAX_URL_LENGTH} characters` }
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    return { ok: false, reason: 'url is not a valid absolute URL' }
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return { ok: false, reason: `url scheme ${url.protocol.slice(0, -1)} is not allowed (http or https only)` }
  if (url.username || url.password) return { ok: false, reason: 'url must not contain credentials' }
  if (!url.hostname) return { ok: false, reason: 'url has no host' }
  return { ok: true, url }
}

export type Lookup = (hostname: string) => Promise<string[]>

/**
 * Every address a name resolves to (A and AAAA), the way the OS resolves it (getaddrinfo: /etc/hosts,
 * then DNS). Not `Bun.dns.lookup`: on Bun 1.4.5 it returns only one of several /etc/hosts entries for a
 * name, so a name listed with a public and a loopback address passed the guard (docs/decisions.md).
 */
export const systemLookup: Lookup = async (hostname) => (await dnsLookup(hostname, { all: true })).map((a) => a.address)

export type TargetCheck =
  | { ok: true; addresses: string[] }
  /** `refused`: the policy forbids the target; `dns`: the name did not resolve (transient at delivery time). */
  | { ok: false; kind: 'refused' | 'dns'; reason: string }

/** The host part of a URL as the SSRF guard sees it: brackets removed, lower case, no trailing dot. */
function hostOf(url: URL): string {
  const h = url.hostname.toLowerCase()
  const bare = h.startsWith('[') ? h.slice(1, -1) : h
  return bare.endsWith('.') ? bare.slice(0, -1) : bare
}

/**
 * Checks a target against the policy: IP literals are classified directly, `localhost` and `*.localhost`
 * are loopback by definition (RFC 6761), any other name is resolved once and every answer must be public.
 * The answer is what the caller connects to (`pinnedRequest`), so nothing resolves the name a second time.
 * `allowPrivate` (MATRIC_WEBHOOK_ALLOW_PRIVATE) skips the classification, not the resolution.
 */
export async function checkTarget(
  url: URL,
  lookup: Lookup = systemLookup,
  timeoutMs = 10_000,
  opts: { allowPrivate?: boolean } = {},
): Promise<TargetCheck> {
  const host = hostOf(url)
  const literal = classifyAddress(host)
  if (literal !== null) {
    return literal === 'public' || opts.allowPrivate ? { ok: true, addresses: [host] } : { ok: false, kind: 'refused', reason: `${host} is a ${literal} address` }
  }
  if (!opts.allowPrivate && (host === 'localhost' || host.endsWith('.localhost'))) {
    return { ok: false, kind: 'refused', reason: `${host} is a loopback name` }
  }
  let addresses: string[]
  let timer: ReturnType<typeof setTimeout> | undefined
  try {
    // A resolver that never answers must not hold a delivery slot (or a request) forever.
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(Object.assign(new Error('DNS timeout'), { code: 'ETIMEOUT' })), timeoutMs)
    })
    addresses = await Promise.race([lookup(host), timeout])
  } catch (err) {
    const code = (err as { code?: unknown })?.code
    return { ok: false, kind: 'dns', reason: `cannot resolve ${host}${typeof code === 'string' ? ` (${code})` : ''}` }
  } finally {
    clearTimeout(timer)
  }
  if (!addresses.length) return { ok: false, kind: 'dns', reason: `cannot resolve ${host} (no addresses)` }
  if (opts.allowPrivate) return { ok: true, addresses }
  for (const a of addresses) {
    const c = classifyAddress(a)
    if (c !== 'public') return { ok: false, kind: 'refused', reason: `${host} resolves to ${a} (${c ?? 'not an IP address'})` }
  }
  return { ok: true, addresses }
}

export interface PinnedRequest {
  /** The URL to fetch: the original with its host replaced by the checked address. */
  url: string
  /** `Host` header to send (the original `host[:port]`); absent when the URL already names an address. */
  host?: string
  /** TLS server name (SNI and certificate check) for https to a name; absent otherwise. */
  serverName?: string
}

/**
 * Where to connect so that the request reaches exactly the address the guard checked: Bun's fetch takes no
 * custom lookup, so the URL names the address and the original name travels in `Host` and, for https,
 * in `tls.serverName` (Bun 1.4.5 sends it as SNI and verifies the certificate against it; see
 * docs/decisions.md). The fragment is dropped (never sent anyway).
 */
export function pinnedRequest(url: URL, address: string): PinnedRequest {
  const u = new URL(url.href)
  u.hash = ''
  if (classifyAddress(hostOf(url)) !== null) return { url: u.href }
  u.hostname = address.includes(':') ? `[${address}]` : address
  const pinned: PinnedRequest = { url: u.href, host: url.host }
  if (url.protocol === 'https:') pinned.serverName = hostOf(url)
  return pinned
}
