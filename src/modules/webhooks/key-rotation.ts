import { existsSync, readFileSync, renameSync } from 'node:fs'
import { join } from 'node:path'
import {
  deriveKey,
  generateKeyMaterial,
  KEY_FILE,
  NEXT_KEY_FILE,
  PREVIOUS_KEY_FILE,
  resolveWebhookKeys,
  SecretBox,
  writeKeyFile,
} from './secret-box.ts'
import type { WebhookStore } from './store.ts'

export interface RotationResult {
  mode: 'file' | 'env'
  /** File mode: the key that was replaced. */
  fromKeyId?: string
  toKeyId: string
  /** Webhook rows re-encrypted. */
  rows: number
  /** File mode: where the replaced key is kept (decrypt only). */
  previousPath?: string
  /** File mode: a rotation that had been interrupted was completed. */
  resumed?: boolean
}

/**
 * Re-encrypts every webhook secret under a new key, in one transaction (docs/webhooks.md#secrets-at-rest).
 * Run with the service stopped.
 *
 * - Key file (no MATRIC_WEBHOOK_SECRET_KEY): a new key is written to `webhook-secret-key.next` first, the
 *   rows are re-encrypted, then the old key moves to `.previous` and `.next` becomes the key file. A crash
 *   at any point leaves every row readable (the server also reads `.next` and `.previous`); running the
 *   rotation again completes it.
 * - MATRIC_WEBHOOK_SECRET_KEY set: the rows are re-encrypted under it, opened with any known key
 *   (MATRIC_WEBHOOK_SECRET_KEY_PREVIOUS, the key files). The operator changes the variables; this moves the data.
 */
export async function rotateWebhookKey(
  /** The backend's webhook store, opened with this box. */
  storeWith: (box: SecretBox) => WebhookStore,
  opts: { dataDir: string; envKey?: string; envPrevious?: string },
): Promise<RotationResult> {
  const known = resolveWebhookKeys(opts.envKey, opts.envPrevious, opts.dataDir)
  if (opts.envKey) {
    const store = storeWith(known.box)
    const { rows } = await store.sealAll()
    await store.compact()
    return { mode: 'env', toKeyId: known.box.current.id, rows }
  }
  const dir = opts.dataDir
  const nextPath = join(dir, NEXT_KEY_FILE)
  const resumed = existsSync(nextPath)
  let next: string
  if (resumed) next = readFileSync(nextPath, 'utf8').trim()
  else {
    next = generateKeyMaterial()
    writeKeyFile(nextPath, next, true)
  }
  const current = known.materials[0]!
  const nextKey = deriveKey(next)
  const others = known.materials.map(deriveKey).filter((k) => k.id !== nextKey.id)
  const store = storeWith(new SecretBox(nextKey, others))
  const { rows } = await store.sealAll()
  await store.compact() // values under the replaced key do not linger in free pages or the WAL
  // Only once every row is under the new key: keep the old one (decrypt only), then switch.
  const previousPath = join(dir, PREVIOUS_KEY_FILE)
  if (current !== next) writeKeyFile(previousPath, current, false)
  renameSync(nextPath, join(dir, KEY_FILE))
  return { mode: 'file', fromKeyId: deriveKey(current).id, toKeyId: nextKey.id, rows, previousPath, resumed }
}
