/**
 * Prints a JWT signed with the configured (MATRIC_JWT_SECRET) or generated secret.
 *   npm run token -- --sub alice --scope "read write" --memory default [--tags a,b] [--ttl 3600]
 * `--memory` takes a comma list or `*`; `--ttl 0` means no expiry. Exit code 2 on bad arguments.
 */
import { parseArgs } from 'node:util'
import { MEMORY_RE } from '../src/auth/principal.ts'
import { resolveSecret } from '../src/auth/secret.ts'
import { localClaims, signToken } from '../src/auth/sign.ts'
import { loadConfig } from '../src/config.ts'

const USAGE = 'usage: npm run token -- --sub alice --scope "read write" --memory default [--tags a,b] [--tenant t] [--ttl 3600]'
const SCOPES = new Set(['read', 'write', 'admin'])

class UsageError extends Error {}

function fail(message: string): never {
  throw new UsageError(message)
}

function splitList(s: string): string[] {
  return s
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean)
}

try {
  let values
  try {
    values = parseArgs({
      options: {
        sub: { type: 'string', default: 'local-admin' },
        scope: { type: 'string', default: 'read write' },
        memory: { type: 'string', default: 'default' },
        tags: { type: 'string' },
        tenant: { type: 'string' },
        ttl: { type: 'string', default: '3600' },
        help: { type: 'boolean', short: 'h' },
      },
    }).values
  } catch (e) {
    fail((e as Error).message)
  }
  if (values.help) {
    console.log(USAGE)
    process.exit(0)
  }
  const sub = values.sub.trim()
  if (!sub) fail('--sub must not be empty')
  const scopes = values.scope.split(/\s+/).filter(Boolean)
  if (!scopes.length || scopes.some((s) => !SCOPES.has(s))) fail(`--scope must be space-separated words among read, write, admin (got ${JSON.stringify(values.scope)})`)
  const memories = splitList(values.memory)
  if (!memories.length || memories.some((m) => m !== '*' && !MEMORY_RE.test(m))) fail(`--memory must be * or a comma list of memory names (got ${JSON.stringify(values.memory)})`)
  const tags = values.tags === undefined ? undefined : splitList(values.tags)
  if (tags && !tags.length) fail('--tags must list at least one tag')
  const tenant = values.tenant?.trim()
  if (values.tenant !== undefined && !tenant) fail('--tenant must not be empty')
  if (!/^\d+$/.test(values.ttl)) fail('--ttl must be a non-negative integer (seconds; 0 = no expiry)')

  const cfg = loadConfig()
  const secret = resolveSecret(cfg.jwtSecret, cfg.dataDir)
  const token = await signToken(secret.key, {
    sub,
    scope: scopes.join(' '),
    memory: memories.includes('*') ? '*' : memories.length === 1 ? memories[0] : memories,
    tags,
    tenant,
    ttlS: Number(values.ttl),
    ...localClaims(cfg),
  })
  console.log(token)
} catch (e) {
  console.error(`token: ${(e as Error).message ?? String(e)}`)
  if (e instanceof UsageError) console.error(USAGE)
  process.exit(2)
}
