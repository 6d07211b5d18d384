import type { PublishedEvent } from './published.ts'

/**
 * What carries committed events to every node's transports. The bus appends a batch to the event store, runs its
 * once-per-cluster subscribers (`onCommitted`: the webhook outbox), then hands the batch to the broker; the broker
 * calls each node's delivery handler (`onDelivered` subscribers: WebSocket, SSE) with every batch, in commit
 * order. One process needs nothing more than a function call (`LocalBroker`); several instances on one database
 * plug a networked broker in here and nothing else changes. Delivery is idempotent by log position: a transport
 * that also replays from the store drops what it has already sent (see the SSE hub).
 */
export interface Broker {
  /** Hands a committed batch (log positions assigned) to every node, this one included. */
  publish(batch: readonly PublishedEvent[]): void
  /** The node's delivery handler; called for every batch, in commit order. */
  onBatch(deliver: (batch: readonly PublishedEvent[]) => void): void
  /**
   * Tells every other instance of a state change it keeps in memory (a revoked token id, a memory whose webhooks
   * changed, a jobs resume). The caller has already applied it here.
   */
  signal(kind: SignalKind, value: string): void
  /**
   * Handles signals of other instances. `null` = some may have been missed (the listener reconnected): reload
   * everything of that kind from the store.
   */
  onSignal(kind: SignalKind, fn: (value: string | null) => void): void
  close(): void | Promise<void>
}

/** The state changes other instances hear of (see docs/cluster.md). */
export type SignalKind = 'revoked' | 'webhooks' | 'jobs'

/** A single process: delivery is a synchronous call, right after the commit. */
export class LocalBroker implements Broker {
  private deliver: ((batch: readonly PublishedEvent[]) => void) | undefined

  publish(batch: readonly PublishedEvent[]): void {
    this.deliver?.(batch)
  }

  onBatch(deliver: (batch: readonly PublishedEvent[]) => void): void {
    this.deliver = deliver
  }

  /** Nobody else to tell. */
  signal(): void {}

  onSignal(): void {}

  close(): void {
    this.deliver = undefined
  }
}
