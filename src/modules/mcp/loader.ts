import type { McpDeps } from './deps.ts'
import type { McpHub } from './hub.ts'

/**
 * The MCP hub, built on the first /mcp request: the MCP SDK and the hub load only then, so a server no agent talks
 * to does not carry them (≈ 9 MB of resident memory at start; see BENCHMARKS.md). Owned by the composition root,
 * which shuts it down with the app.
 */
export class McpLoader {
  private hub: McpHub | undefined
  private loading: Promise<McpHub> | undefined
  private closed = false

  constructor(private deps: McpDeps) {}

  /** The hub, loading it on first use. */
  get(): Promise<McpHub> {
    if (this.hub) return Promise.resolve(this.hub)
    return (this.loading ??= import('./hub.ts').then(({ McpHub }) => {
      if (this.closed) throw new Error('the server is shutting down')
      return (this.hub = new McpHub(this.deps))
    }))
  }

  /** Memories with an MCP session (none before the hub loads). */
  memories(): Iterable<string> {
    return this.hub?.memories() ?? []
  }

  shutdown(): void {
    this.closed = true
    this.hub?.shutdown()
  }
}
