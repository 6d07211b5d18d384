/**
 * Prints a JWT signed with the configured (MATRIC_JWT_SECRET) or generated secret.
 *   npm run token -- --sub alice --scope "read write" --memory default [--tags a,b] [--ttl 3600]
 * `--memory` takes a comma list or `*`; `--ttl 0` means no expiry.
 */
import { parseArgs } from 'node:util'
import { resolveSecret } from '../src/auth/secret.ts'
import { signToken } from '../src/auth/sign.ts'
import { ConfigError, loadConfig } from '../src/config.ts'

const { values } = parseArgs({
  options: {
    sub: { type: 'string', default: 'local-admin' },
    scope: { type: 'string', default: 'read write' },
    memory: { type: 'string', default: 'default' },
    tags: { type: 'string' },
    ttl: { type: 'string', default: '3600' },
    help: { type: 'boolean', short: 'h' },
  },
})

if (values.help) {
  console.log('usage: npm run token -- --sub alice --scope "read write" --memory default [--tags a,b] [--ttl 3600]')
  process.exit(0)
}

try {
  const cfg = loadConfig()
  const ttl = Number(values.ttl)
  if (!Number.isInteger(ttl) || ttl < 0) throw new Error('--ttl must be a non-negative integer (seconds)')
  const memories = values.memory.split(',').map((s) => s.trim()).filter(Boolean)
  const secret = resolveSecret(cfg.jwtSecret, cfg.dataDir)
  const token = await signToken(secret.key, {
    sub: values.sub,
    scope: values.scope,
    memory: memories.length === 1 ? memories[0] : memories,
    tags: values.tags ? values.tags.split(',').map((s) => s.trim()).filter(Boolean) : undefined,
    ttlS: ttl,
  })
  console.log(token)
} catch (e) {
  console.error(`token: ${e instanceof ConfigError || e instanceof Error ? e.message : String(e)}`)
  process.exit(2)
}
