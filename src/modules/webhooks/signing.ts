/**
 * Webhook signatures (docs/webhooks.md). Two independent schemes over the exact body bytes:
 * - ours, GitHub-style: `x-matric-signature: sha256=<hex HMAC-SHA256(key = secret as UTF-8, body)>`;
 * - Standard Webhooks: `webhook-signature: v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")>` where
 *   key = the base64-decoded part after `whsec_`, or the secret's UTF-8 bytes for other secrets.
 * During a rotation both the new and the previous secret sign; each header then carries both values,
 * space-separated, newest first.
 */

export const SECRET_PREFIX = 'whsec_'
export const MIN_SECRET_LENGTH = 16
export const MAX_SECRET_LENGTH = 256
const MIN_KEY_BYTES = 16
const MAX_KEY_BYTES = 64
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/

export function hmacSha256(key: string | Uint8Array, message: string): Uint8Array {
  return new Bun.CryptoHasher('sha256', key).update(message).digest()
}

const toHex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex')
const toBase64 = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64')

/** `whsec_` + base64 of 32 random bytes (the Standard Webhooks format). */
export function generateSecret(): string {
  return SECRET_PREFIX + toBase64(crypto.getRandomValues(new Uint8Array(32)))
}

/** Why a caller-supplied secret is unusable, or null when it is fine. */
export function secretProblem(secret: string): string | null {
  if (secret.length < MIN_SECRET_LENGTH || secret.length > MAX_SECRET_LENGTH)
    return `secret must be ${MIN_SECRET_LENGTH}–${MAX_SECRET_LENGTH} characters`
  if (/\s/.test(secret)) return 'secret must not contain whitespace'
  if (secret.startsWith(SECRET_PREFIX)) {
    const b64 = secret.slice(SECRET_PREFIX.length)
    if (!BASE64.test(b64) || b64.length % 4 !== 0) return `a ${SECRET_PREFIX} secret must be followed by standard base64`
    const n = Buffer.from(b64, 'base64').length
    if (n < MIN_KEY_BYTES || n > MAX_KEY_BYTES) return `a ${SECRET_PREFIX} secret must encode ${MIN_KEY_BYTES}–${MAX_KEY_BYTES} bytes (got ${n})`
  }
  return null
}

/** The Standard Webhooks HMAC key of a secret. */
export function standardKey(secret: string): Uint8Array {
  if (secret.startsWith(SECRET_PREFIX)) return new Uint8Array(Buffer.from(secret.slice(SECRET_PREFIX.length), 'base64'))
  return new TextEncoder().encode(secret)
}

/** `sha256=<hex>` over the body, key = the secret's UTF-8 bytes (whsec_ secrets included, as written). */
export function matricSignature(secret: string, body: string): string {
  return 'sha256=' + toHex(hmacSha256(secret, body))
}

/** `v1,<base64>` over `<id>.<timestamp>.<body>`. */
export function standardSignature(secret: string, id: string, timestampS: number, body: string): string {
  return 'v1,' + toBase64(hmacSha256(standardKey(secret), `${id}.${timestampS}.${body}`))
}

/** Both signature headers for the secrets that currently sign (newest first). */
export function signatureHeaders(
  secrets: readonly string[],
  id: string,
  timestampS: number,
  body: string,
): { 'x-matric-signature': string; 'webhook-signature': string } {
  return {
    'x-matric-signature': secrets.map((s) => matricSignature(s, body)).join(' '),
    'webhook-signature': secrets.map((s) => standardSignature(s, id, timestampS, body)).join(' '),
  }
}
