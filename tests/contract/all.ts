/** Every store contract, for a backend's runner (sqlite.test.ts, postgres.test.ts): a new port's suite goes here. */
import { eventStoreContract } from './event-store.ts'
import type { OpenStores } from './harness.ts'
import { jobStoreContract, pauseStoreContract } from './job-store.ts'
import { noteStoreContract } from './note-store.ts'
import { probeContract } from './probe.ts'
import { revocationStoreContract } from './revocation-store.ts'
import { streamTokenStoreContract } from './stream-token-store.ts'
import { webhookStoreContract } from './webhook-store.ts'

export function storeContracts(open: OpenStores): void {
  eventStoreContract(open)
  noteStoreContract(open)
  jobStoreContract(open)
  pauseStoreContract(open)
  webhookStoreContract(open)
  streamTokenStoreContract(open)
  revocationStoreContract(open)
  probeContract(open)
}
