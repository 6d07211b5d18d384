import { ConfigError, type Config } from '../../config.ts'
import type { EventBus } from '../../events/bus.ts'
import type { QueueCounts } from '../../events/queue-status.ts'
import type { Logger } from '../../telemetry/log.ts'
import type { Metrics } from '../../telemetry/metrics.ts'
import type { Tracing } from '../../telemetry/tracing.ts'
import type { Clock } from '../../util/poll-loop.ts'
import { Outbox } from './outbox.ts'
import { resolveWebhookKeys, SecretKeyError, type ResolvedKeys } from './secret-box.ts'
import { WebhookService } from './service.ts'
import type { Lookup } from './ssrf.ts'
import type { WebhookStore } from './store.ts'

export interface Webhooks {
  store: WebhookStore
  outbox: Outbox
  service: WebhookService
}

export interface WebhooksDeps {
  config: Config
  /** The webhook store of the chosen backend, opened with `keys.box`. */
  store: WebhookStore
  keys: ResolvedKeys
  /** Whether the store keeps files a VACUUM can scrub (SQLite on disk). */
  compactable: boolean
  bus: EventBus
  metrics: Metrics
  logger: Logger
  tracing: Tracing
  clock: Clock
  queueCounts: (memory: string) => Promise<QueueCounts>
  lookup?: Lookup
  tlsCa?: string
}

/**
 * Builds the webhook subsystem (the key that seals secrets, the store, the outbox, the service); nothing runs
 * until the composition root starts the outbox. Throws ConfigError when the secret key cannot open the stored secrets.
 */
export async function createWebhooks(d: WebhooksDeps): Promise<Webhooks> {
  const { store, keys } = d
  await sealStoredSecrets(d, store, keys)
  const outbox: Outbox = new Outbox({
    config: d.config,
    store,
    bus: d.bus,
    metrics: d.metrics,
    logger: d.logger,
    tracing: d.tracing,
    lookup: d.lookup,
    tlsCa: d.tlsCa,
    clock: d.clock,
    onDisabled: (x) => service.announceDisabled(x),
  })
  const service: WebhookService = new WebhookService({ config: d.config, store, outbox, logger: d.logger, queueCounts: d.queueCounts, lookup: d.lookup, bus: d.bus, metrics: d.metrics })
  return { store, outbox, service }
}

/** The key that seals webhook secrets at rest (env, or generated beside the JWT secret), never logged. */
export function webhookKeys(ctx: Pick<WebhooksDeps, 'config' | 'logger'>): ResolvedKeys {
  const { secretKey, secretKeyPrevious } = ctx.config.webhooks
  try {
    const keys = resolveWebhookKeys(secretKey, secretKeyPrevious, ctx.config.dataDir)
    ctx.logger.addSecrets(...keys.materials)
    if (keys.source === 'generated') ctx.logger.info('generated the webhook secret key', { path: keys.path })
    return keys
  } catch (e) {
    if (e instanceof SecretKeyError) throw new ConfigError([e.message])
    throw e
  }
}

/** Plaintext rows (from before encryption) and rows under a replaced key are sealed with the current key at start. */
async function sealStoredSecrets(ctx: Pick<WebhooksDeps, 'logger' | 'compactable'>, store: WebhookStore, keys: ResolvedKeys): Promise<void> {
  try {
    const { rows, plaintext } = await store.sealAll()
    if (rows) ctx.logger.info('webhook secrets sealed with the current key', { count: rows, plaintext, key_id: keys.box.current.id })
    // Once, when upgrading from plaintext rows: their old bytes must not linger in free pages or the WAL.
    if (plaintext && ctx.compactable) await store.compact()
  } catch (e) {
    if (!(e instanceof SecretKeyError)) throw e
    throw new ConfigError([
      `MATRIC_WEBHOOK_SECRET_KEY / ${keys.path}: ${e.message}. ` +
        'Start with the key that sealed them (or give it as MATRIC_WEBHOOK_SECRET_KEY_PREVIOUS); see docs/webhooks.md#secrets-at-rest',
    ])
  }
}
