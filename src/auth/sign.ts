import { SignJWT } from 'jose'
import { STREAM_AUDIENCE } from './principal.ts'

export interface TokenClaims {
  sub: string
  scope: string
  memory?: string | string[]
  tags?: string[]
  /** Tenant the token is for (claim `tenant`). */
  tenant?: string
  /** Seconds; 0 or undefined = no expiry. */
  ttlS?: number
  jti?: string
  /** Audience `event-stream` (a stream token); takes precedence over `audience`. */
  stream?: boolean
  /** `aud` of a regular token: MATRIC_JWT_AUDIENCE's first value when that is set. */
  audience?: string
  /** `iss`: MATRIC_JWT_ISSUER when set. */
  issuer?: string
}

/** The `audience`/`issuer` the server's own tokens carry, from the configuration. */
export function localClaims(cfg: { jwtAudience: readonly string[] | undefined; jwtIssuer: string | undefined }): Pick<TokenClaims, 'audience' | 'issuer'> {
  return { audience: cfg.jwtAudience?.[0], issuer: cfg.jwtIssuer }
}

/** Signs an HS256 token with the local secret (CLI, stream tokens, tests). */
export async function signToken(secret: Uint8Array, c: TokenClaims): Promise<string> {
  const claims: Record<string, unknown> = { scope: c.scope }
  if (c.memory !== undefined) claims.memory = c.memory
  if (c.tags !== undefined) claims.tags = c.tags
  if (c.tenant !== undefined) claims.tenant = c.tenant
  let jwt = new SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).setSubject(c.sub).setIssuedAt()
  if (c.ttlS) jwt = jwt.setExpirationTime(Math.floor(Date.now() / 1000) + c.ttlS)
  if (c.jti) jwt = jwt.setJti(c.jti)
  if (c.stream) jwt = jwt.setAudience(STREAM_AUDIENCE)
  else if (c.audience) jwt = jwt.setAudience(c.audience)
  if (c.issuer) jwt = jwt.setIssuer(c.issuer)
  return jwt.sign(secret)
}
