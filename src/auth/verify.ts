import { createRemoteJWKSet, decodeProtectedHeader, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose'
import { ClaimsError, principalFromClaims, STREAM_AUDIENCE, type Principal } from './principal.ts'

export class AuthError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'AuthError'
  }
}

/**
 * The token could not be checked because the identity provider's JWKS is unreachable or invalid: not the
 * caller's fault, so a 503 rather than a 401 (a client should retry, not discard its token).
 */
export class AuthUnavailableError extends AuthError {
  constructor(message: string) {
    super(message)
    this.name = 'AuthUnavailableError'
  }
}

export interface Verifier {
  /** Verifies a JWT and returns its principal; throws AuthError with a client-safe message. */
  verify(token: string): Promise<Principal>
}

export interface VerifierOptions {
  secret: Uint8Array
  jwksUrl?: string
  /** Stream tokens (and any token with a jti) can be revoked. */
  isRevoked: (jti: string) => boolean
  clockToleranceS?: number
  /** MATRIC_JWT_AUDIENCE: when set, a token's `aud` must contain one of these (stream tokens excepted, see below). */
  audience?: readonly string[]
  /** MATRIC_JWT_ISSUER: when set, a token's `iss` must be this. */
  issuer?: string
  /** Called when the JWKS cannot be fetched (the request gets a 503); wire it to the logger. */
  onJwksUnavailable?: (err: unknown) => void
}

const ASYMMETRIC = ['RS256', 'ES256'] as const

/** Verified tokens remembered (clients reuse one token for many requests; a signature check is the costly part). */
export const VERIFIED_CACHE_SIZE = 1024

/**
 * Remembers the principal of tokens that verified, until their `exp` (plus the clock tolerance), least
 * recently used first out. Only successes are cached; revocation is still checked on every use.
 */
export class VerifiedTokens {
  private entries = new Map<string, { principal: Principal; untilMs: number }>()

  constructor(
    private max = VERIFIED_CACHE_SIZE,
    private now: () => number = Date.now,
  ) {}

  get(token: string): Principal | undefined {
    const e = this.entries.get(token)
    if (!e) return undefined
    this.entries.delete(token)
    if (e.untilMs <= this.now()) return undefined
    this.entries.set(token, e) // most recently used last
    return e.principal
  }

  set(token: string, principal: Principal, toleranceS: number): void {
    const untilMs = principal.exp === undefined ? Infinity : (principal.exp + toleranceS) * 1000
    this.entries.set(token, { principal, untilMs })
    if (this.entries.size > this.max) this.entries.delete(this.entries.keys().next().value!)
  }

  get size(): number {
    return this.entries.size
  }
}

/**
 * HS256 against the local secret; RS256/ES256 against the configured JWKS. Any other `alg`
 * (including `none`) is refused before a key is looked at.
 */
export function createVerifier(opts: VerifierOptions): Verifier {
  const jwks = opts.jwksUrl ? createRemoteJWKSet(new URL(opts.jwksUrl), { cooldownDuration: 30_000, timeoutDuration: 5000 }) : undefined
  const tolerance = opts.clockToleranceS ?? 5
  const verified = new VerifiedTokens()
  // Imported once: handing jose the raw secret would import the HMAC key again on every verification.
  let hmacKey: Promise<CryptoKey> | undefined
  const localKey = () => (hmacKey ??= crypto.subtle.importKey('raw', new Uint8Array(opts.secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['verify']))

  return {
    async verify(token) {
      const known = verified.get(token)
      if (known) {
        if (known.jti && opts.isRevoked(known.jti)) throw new AuthError('token has been revoked')
        return known
      }
      const principal = await verifyFresh(token)
      verified.set(token, principal, tolerance)
      return principal
    },
  }

  async function verifyFresh(token: string): Promise<Principal> {
    let alg: string | undefined
    try {
      alg = decodeProtectedHeader(token).alg
    } catch {
      throw new AuthError('malformed token')
    }
    let payload: JWTPayload
    try {
      if (alg === 'HS256') {
        payload = (await jwtVerify(token, await localKey(), { algorithms: ['HS256'], clockTolerance: tolerance, issuer: opts.issuer })).payload
        if (!localAudienceAccepted(payload.aud, opts.audience)) throw new AuthError('invalid token claim: aud')
      } else if (alg && (ASYMMETRIC as readonly string[]).includes(alg)) {
        if (!jwks) throw new AuthError(`${alg} tokens are not accepted (no JWKS configured)`)
        try {
          // A provider's token must expire: the provider cannot revoke it here, so `exp` is its only end.
          const checks = { algorithms: [...ASYMMETRIC], clockTolerance: tolerance, issuer: opts.issuer, audience: opts.audience ? [...opts.audience] : undefined, requiredClaims: ['exp'] }
          payload = (await jwtVerify(token, jwks, checks)).payload
        } catch (e) {
          const ae = jwksError(e)
          if (ae instanceof AuthUnavailableError) opts.onJwksUnavailable?.(e)
          throw ae
        }
      } else {
        throw new AuthError(`token algorithm ${JSON.stringify(alg ?? null)} is not accepted`)
      }
    } catch (e) {
      throw toAuthError(e)
    }
    if (issuedInFuture(payload.iat, Math.floor(Date.now() / 1000), tolerance)) throw new AuthError('invalid token claim: iat (issued in the future)')
    if (payload.jti && opts.isRevoked(payload.jti)) throw new AuthError('token has been revoked')
    try {
      return principalFromClaims(payload as Record<string, unknown>)
    } catch (e) {
      if (e instanceof ClaimsError) throw new AuthError(e.message)
      throw e
    }
  }
}

/**
 * The audience rule for HS256 tokens. Stream tokens (audience `event-stream`) are minted only by this
 * server, with its own secret, and REST refuses them, so they keep their audience; other local tokens
 * (the CLI's, the printed admin token) need MATRIC_JWT_AUDIENCE like provider tokens when it is set.
 */
export function localAudienceAccepted(aud: unknown, configured: readonly string[] | undefined): boolean {
  const auds = typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud : []
  if (auds.includes(STREAM_AUDIENCE)) return true
  return !configured || auds.some((a) => configured.includes(a))
}

/** `iat` later than now plus the clock tolerance: jose only checks it with maxTokenAge, we always do. */
export function issuedInFuture(iat: unknown, nowS: number, toleranceS: number): boolean {
  return typeof iat === 'number' && iat > nowS + toleranceS
}

/**
 * Errors of a JWKS verification: fetching the key set can fail (network error, timeout, non-200, not a
 * JWKS), which says nothing about the token; everything else is the token's fault.
 */
export function jwksError(e: unknown): AuthError {
  if (e instanceof AuthError) return e
  const unavailable =
    e instanceof joseErrors.JWKSTimeout ||
    e instanceof joseErrors.JWKSInvalid ||
    // jose reports a non-200 or non-JSON JWKS response with the generic base error
    (e instanceof joseErrors.JOSEError && e.code === 'ERR_JOSE_GENERIC') ||
    // network failures surface as plain (non-jose) errors from fetch
    !(e instanceof joseErrors.JOSEError)
  return unavailable ? new AuthUnavailableError('cannot verify the token now: the identity provider keys (JWKS) are unavailable') : toAuthError(e)
}

export function toAuthError(e: unknown): AuthError {
  if (e instanceof AuthError) return e
  if (e instanceof joseErrors.JWTExpired) return new AuthError('token expired')
  if (e instanceof joseErrors.JWSSignatureVerificationFailed) return new AuthError('invalid token signature')
  if (e instanceof joseErrors.JWTClaimValidationFailed)
    return new AuthError(e.reason === 'missing' ? `token has no ${e.claim} claim` : `invalid token claim: ${e.claim}`)
  if (e instanceof joseErrors.JWKSNoMatchingKey) return new AuthError('no matching key in JWKS')
  if (e instanceof joseErrors.JWKSMultipleMatchingKeys) return new AuthError('token has no kid and the JWKS holds several matching keys')
  return new AuthError('invalid token')
}
