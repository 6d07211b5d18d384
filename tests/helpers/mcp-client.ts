import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js'

export interface SseRecord {
  /** `id:` of every SSE event the client received on GET streams, in order. */
  ids: string[]
  /** Last-Event-ID headers the client sent. */
  resumes: string[]
}

/**
 * fetch for the SDK client that records the ids of GET-stream events (the SDK does not expose them) and lets a test
 * cut the GET stream (a network drop, from the client's side).
 */
export function recordingFetch(rec: SseRecord): { fetch: typeof fetch; cutGetStream: () => void } {
  let cut: (() => void) | undefined
  const f = (async (input: string | URL | Request, init?: RequestInit) => {
    const method = init?.method ?? 'GET'
    const headers = new Headers(init?.headers)
    const last = headers.get('last-event-id')
    if (method === 'GET' && last) rec.resumes.push(last)
    const ac = new AbortController()
    const signal = init?.signal ? AbortSignal.any([init.signal, ac.signal]) : ac.signal
    const res = await fetch(input, { ...init, signal })
    if (method !== 'GET' || !res.body || !res.headers.get('content-type')?.includes('text/event-stream')) return res
    cut = () => ac.abort(new Error('cut by the test'))
    const [mine, theirs] = res.body.tee()
    void (async () => {
      const decoder = new TextDecoder()
      let buf = ''
      try {
        for await (const chunk of mine) {
          buf += decoder.decode(chunk, { stream: true })
          let i: number
          while ((i = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, i).replace(/\r$/, '')
            buf = buf.slice(i + 1)
            if (line.startsWith('id: ')) rec.ids.push(line.slice(4))
          }
        }
      } catch {
        /* cut or closed */
      }
    })()
    return new Response(theirs, { status: res.status, statusText: res.statusText, headers: res.headers })
  }) as typeof fetch
  return { fetch: f, cutGetStream: () => cut?.() }
}

export interface McpConnection {
  client: Client
  transport: StreamableHTTPClientTransport
  close(): Promise<void>
}

/** An SDK client connected over Streamable HTTP with this bearer token (and optional headers). */
export async function connectMcp(
  baseUrl: string,
  token: string | undefined,
  opts: { headers?: Record<string, string>; fetch?: typeof fetch; sessionId?: string; name?: string } = {},
): Promise<McpConnection> {
  const transport = new StreamableHTTPClientTransport(new URL('/mcp', baseUrl), {
    requestInit: { headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...opts.headers } },
    fetch: opts.fetch,
    sessionId: opts.sessionId,
    reconnectionOptions: { initialReconnectionDelay: 20, maxReconnectionDelay: 200, reconnectionDelayGrowFactor: 1.5, maxRetries: 5 },
  })
  const client = new Client({ name: opts.name ?? 'matric-test', version: '1.0.0' })
  await client.connect(transport)
  return {
    client,
    transport,
    close: async () => {
      await client.close().catch(() => {})
    },
  }
}

/** The JSON a tool answered (its structuredContent), or throws with the tool's error text. */
export function toolJson<T = Record<string, unknown>>(r: unknown): T {
  const res = r as CallToolResult
  if (res.isError) throw new Error(`tool error: ${(res.content[0] as { text?: string } | undefined)?.text}`)
  return res.structuredContent as T
}

/** The error text of a tool result that must be an error. */
export function toolError(r: unknown): string {
  const res = r as CallToolResult
  if (!res.isError) throw new Error(`expected a tool error, got ${JSON.stringify(res.structuredContent)}`)
  return (res.content[0] as { text: string }).text
}
