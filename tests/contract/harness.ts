import { afterEach } from 'bun:test'
import type { Retention } from '../../src/events/store.ts'
import { deriveKey, SecretBox } from '../../src/modules/webhooks/secret-box.ts'
import type { Stores } from '../../src/store/ports.ts'

/** What a backend's test file passes to the contracts. */
export interface OpenOptions {
  retention?: Retention
  box?: SecretBox
}

/**
 * Opens one more `Stores` on the backend under test. Every call must reach the same data (one database): two
 * calls stand for two instances of the server, which is how the contracts test claims and leases across a cluster.
 */
export type OpenStores = (o?: OpenOptions) => Promise<Stores>

export const DEFAULT_RETENTION: Retention = { count: 10_000, hours: 24 * 365 * 100 }
export const TEST_KEY = deriveKey('contract-tests-key-material-0123456789abcdef')
export const TEST_BOX = new SecretBox(TEST_KEY)

/** Opens stores for one test and closes them after it (register inside the contract's describe). */
export function harness(open: OpenStores): { open: OpenStores } {
  const opened: Stores[] = []
  afterEach(async () => {
    for (const s of opened.splice(0).reverse()) await s.close()
  })
  return {
    async open(o) {
      const s = await open(o)
      opened.push(s)
      return s
    },
  }
}

/** A memory name no other test uses (the contracts share one database per backend). */
export const uniqueMemory = (prefix = 'm') => `${prefix}-${crypto.randomUUID().slice(0, 8)}`
export const uid = () => crypto.randomUUID()
/** An ISO timestamp `i` ms after a fixed base (ordering by created_at without waiting). */
export const isoAt = (ms: number) => new Date(ms).toISOString()
