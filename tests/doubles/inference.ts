/**
 * Test double of an OpenAI-compatible chat-completions endpoint (`POST /v1/chat/completions`).
 * Each call takes the next scripted reply (or the default); every request is recorded. A `hold` reply
 * keeps the request open until `release()` (crash-recovery tests).
 */

export type Reply =
  /** 200 with this text as the assistant message. */
  | { content: string }
  /** Any status with a JSON body (errors, odd shapes). */
  | { status: number; body?: unknown }
  /** Never answer until release() is called; then answer with the reply given to release(). */
  | { hold: true }

export interface RecordedRequest {
  path: string
  authorization: string | null
  body: { model?: string; messages?: { role: string; content: string }[] } & Record<string, unknown>
}

export interface InferenceDouble {
  /** Base URL to use as MATRIC_INFERENCE_URL (`…/v1`). */
  url: string
  requests: RecordedRequest[]
  /** Queues replies for the next calls, in order. */
  script(...replies: Reply[]): void
  /** Reply used when the script is empty (default: a revision of the user message). */
  setDefault(reply: Reply | ((req: RecordedRequest) => Reply)): void
  /** Answers every held request. */
  release(reply?: Reply): void
  /** Number of requests currently held open. */
  held(): number
  stop(): Promise<void>
}

/** The default answer: the user's note, revised in a recognisable way. */
export function revisedOf(req: RecordedRequest): string {
  const user = req.body.messages?.find((m) => m.role === 'user')?.content ?? ''
  return `# Revised\n\n${user.trim()}\n\n(revised by the test double)`
}

function respond(reply: Exclude<Reply, { hold: true }>): Response {
  if ('content' in reply) {
    return Response.json({
      id: 'chatcmpl-test',
      object: 'chat.completion',
      choices: [{ index: 0, message: { role: 'assistant', content: reply.content }, finish_reason: 'stop' }],
    })
  }
  return Response.json(reply.body ?? { error: { message: `scripted ${reply.status}` } }, { status: reply.status })
}

export async function startInference(): Promise<InferenceDouble> {
  const queue: Reply[] = []
  const requests: RecordedRequest[] = []
  const waiting = new Set<(r: Exclude<Reply, { hold: true }>) => void>()
  let fallback: Reply | ((req: RecordedRequest) => Reply) = (req) => ({ content: revisedOf(req) })

  const server = Bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    // Held requests stay open for as long as a test needs.
    idleTimeout: 0,
    async fetch(req) {
      const path = new URL(req.url).pathname
      if (req.method !== 'POST' || path !== '/v1/chat/completions') return new Response('not found', { status: 404 })
      const rec: RecordedRequest = { path, authorization: req.headers.get('authorization'), body: (await req.json()) as RecordedRequest['body'] }
      requests.push(rec)
      const next = queue.shift() ?? (typeof fallback === 'function' ? fallback(rec) : fallback)
      if (!('hold' in next)) return respond(next)
      const answer = await new Promise<Exclude<Reply, { hold: true }>>((resolve) => {
        waiting.add(resolve)
        // The caller went away (e.g. a killed server): forget the request.
        req.signal.addEventListener('abort', () => waiting.delete(resolve))
      })
      return respond(answer)
    },
  })

  const release = (reply?: Reply) => {
    for (const resolve of [...waiting]) {
      waiting.delete(resolve)
      const r = reply && !('hold' in reply) ? reply : { content: revisedOf(requests[requests.length - 1]!) }
      resolve(r)
    }
  }

  return {
    url: `http://127.0.0.1:${server.port}/v1`,
    requests,
    script: (...replies) => void queue.push(...replies),
    setDefault: (r) => void (fallback = r),
    release,
    held: () => waiting.size,
    stop: async () => {
      release({ status: 503 })
      await server.stop(true)
    },
  }
}
