/**
 * Rotates the key that encrypts webhook secrets at rest and re-encrypts every row (docs/webhooks.md#secrets-at-rest).
 *   npm run webhook-key:rotate            # stop the service first; same environment as the service
 * Exit code 2 on bad configuration or a secret that no known key opens (nothing is changed then).
 */
import { ConfigError, loadConfig } from '../src/config.ts'
import { rotateWebhookKey } from '../src/modules/webhooks/key-rotation.ts'
import { SecretKeyError } from '../src/modules/webhooks/secret-box.ts'
import { openDatabase } from '../src/store/sqlite/db.ts'
import { SqliteWebhookStore } from '../src/store/sqlite/webhooks.ts'

if (process.argv.includes('--help') || process.argv.includes('-h')) {
  console.log('usage: npm run webhook-key:rotate   (with the service stopped, in the service environment)')
  process.exit(0)
}
try {
  const cfg = loadConfig()
  if (cfg.dbPath === ':memory:') throw new ConfigError(['MATRIC_DB_PATH=:memory: holds nothing to rotate'])
  const db = openDatabase(cfg.dbPath)
  try {
    const r = await rotateWebhookKey((box) => new SqliteWebhookStore(db, box), { dataDir: cfg.dataDir, envKey: cfg.webhooks.secretKey, envPrevious: cfg.webhooks.secretKeyPrevious })
    if (r.mode === 'file') {
      console.log(`webhook secret key rotated${r.resumed ? ' (completed an interrupted rotation)' : ''}: ${r.fromKeyId} -> ${r.toKeyId}; ${r.rows} webhook(s) re-encrypted.`)
      console.log(`The replaced key is kept, for reading only, in ${r.previousPath}; delete it once the service has restarted.`)
    } else {
      console.log(`webhook secrets re-encrypted under MATRIC_WEBHOOK_SECRET_KEY (${r.toKeyId}): ${r.rows} webhook(s).`)
      console.log('MATRIC_WEBHOOK_SECRET_KEY_PREVIOUS is no longer needed.')
    }
  } finally {
    db.close()
  }
} catch (e) {
  if (e instanceof ConfigError || e instanceof SecretKeyError) {
    console.error(`webhook-key:rotate: ${e.message}`)
    process.exit(2)
  }
  throw e
}
