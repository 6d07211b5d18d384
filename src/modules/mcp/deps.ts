import type { Revocations } from '../../auth/revocations.ts'
import type { ResolvedSecret } from '../../auth/secret.ts'
import type { Verifier } from '../../auth/verify.ts'
import type { Config } from '../../config.ts'
import type { EventBus } from '../../events/bus.ts'
import type { EventStore } from '../../events/store.ts'
import type { Logger } from '../../telemetry/log.ts'
import type { Metrics } from '../../telemetry/metrics.ts'
import type { JobService } from '../jobs/service.ts'
import type { JobStore } from '../jobs/store.ts'
import type { NoteService } from '../notes/service.ts'
import type { NoteStore } from '../notes/store.ts'

/** What the MCP endpoint uses: the same services as REST, built by the composition root (src/context.ts). */
export interface McpDeps {
  config: Config
  logger: Logger
  metrics: Metrics
  bus: EventBus
  secret: ResolvedSecret
  verifier: Verifier
  revocations: Revocations
  events: EventStore
  notes: NoteStore
  jobs: JobStore
  noteService: NoteService
  jobService: JobService
}
