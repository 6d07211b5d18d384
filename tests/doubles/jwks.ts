/**
 * Test double of an OAuth/OIDC provider's JWKS endpoint: serves the public halves of an RS256 and an
 * ES256 key (generated with jose) on a free port, and signs tokens with them.
 */
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose'

export type AsymmetricAlg = 'RS256' | 'ES256'

interface KeyEntry {
  alg: AsymmetricAlg
  kid: string
  privateKey: CryptoKey
  jwk: JWK
}

export interface SignOptions {
  alg: AsymmetricAlg
  /** Seconds until expiry (default 600); null = no `exp` claim. */
  ttlS?: number | null
  /** `iat` in unix seconds (default now). */
  iat?: number
  /** Override the kid header (e.g. a kid the JWKS does not list). */
  kid?: string
  /** Sign with this key instead of the served one (a key the JWKS does not hold). */
  privateKey?: CryptoKey
}

export interface JwksDouble {
  /** URL of the JWKS document, for MATRIC_JWKS_URL. */
  url: string
  /** How many times the JWKS was fetched. */
  fetches(): number
  sign(claims: JWTPayload, opts: SignOptions): Promise<string>
  stop(): Promise<void>
}

async function makeKey(alg: AsymmetricAlg, kid: string): Promise<KeyEntry> {
  const { publicKey, privateKey } = await generateKeyPair(alg)
  const jwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' }
  return { alg, kid, privateKey, jwk }
}

/** A fresh key pair of `alg` that no JWKS double serves. */
export async function rogueKey(alg: AsymmetricAlg): Promise<CryptoKey> {
  return (await generateKeyPair(alg)).privateKey
}

export async function startJwks(): Promise<JwksDouble> {
  const keys = [await makeKey('RS256', 'rsa-1'), await makeKey('ES256', 'ec-1')]
  let fetches = 0
  const server = Bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    fetch(req) {
      if (new URL(req.url).pathname !== '/.well-known/jwks.json') return new Response('not found', { status: 404 })
      fetches++
      return Response.json({ keys: keys.map((k) => k.jwk) })
    },
  })
  return {
    url: `http://127.0.0.1:${server.port}/.well-known/jwks.json`,
    fetches: () => fetches,
    async sign(claims, opts) {
      const entry = keys.find((k) => k.alg === opts.alg)!
      let jwt = new SignJWT(claims).setProtectedHeader({ alg: opts.alg, kid: opts.kid ?? entry.kid, typ: 'JWT' }).setIssuedAt(opts.iat)
      if (opts.ttlS !== null) jwt = jwt.setExpirationTime(Math.floor(Date.now() / 1000) + (opts.ttlS ?? 600))
      return jwt.sign(opts.privateKey ?? entry.privateKey)
    },
    stop: async () => {
      await server.stop(true)
    },
  }
}
