import { FetchError, ofetch } from 'ofetch'
import type { JobHandler } from './types.ts'
import { TransientError } from './types.ts'

export const REVISION_PROMPT =
  'You revise notes in a personal knowledge base. Improve clarity, structure and grammar while keeping every fact, link and the author\'s voice. Answer with the revised note in Markdown only.'

/** The chat-completions URL for a configured base (`…/v1`) or full endpoint URL. */
export function completionsUrl(base: string): string {
  const u = base.replace(/\/+$/, '')
  return u.endsWith('/chat/completions') ? u : `${u}/chat/completions`
}

/** HTTP statuses worth another attempt. */
export function isTransientStatus(status: number): boolean {
  return status === 408 || status === 425 || status === 429 || status >= 500
}

interface ChatResponse {
  choices?: { message?: { content?: unknown } }[]
}

/** Revises the note's content through an OpenAI-compatible chat-completions endpoint. */
export const aiRevision: JobHandler = async ({ note, notes, config, progress, signal }) => {
  const { url, model, apiKey, timeoutMs } = config.inference
  if (!url) throw new Error('AI revision is not configured: set MATRIC_INFERENCE_URL to an OpenAI-compatible endpoint')
  progress(10, 'asking the model')
  let res: ChatResponse
  try {
    res = await ofetch<ChatResponse>(completionsUrl(url), {
      method: 'POST',
      body: {
        model,
        messages: [
          { role: 'system', content: REVISION_PROMPT },
          { role: 'user', content: note.content },
        ],
      },
      headers: apiKey ? { authorization: `Bearer ${apiKey}` } : {},
      timeout: timeoutMs,
      retry: 0,
      signal,
    })
  } catch (e) {
    if (e instanceof FetchError) {
      const status = e.response?.status
      if (status === undefined) throw new TransientError(`inference endpoint unreachable: ${shortCause(e)}`)
      if (isTransientStatus(status)) throw new TransientError(`inference endpoint answered ${status}`)
      throw new Error(`inference endpoint refused the request (${status})`)
    }
    throw e
  }
  const content = res?.choices?.[0]?.message?.content
  if (typeof content !== 'string' || !content.trim()) throw new Error('inference endpoint returned no revised content')
  progress(80, 'storing the revision')
  notes.update(note.id, { content: content.trim(), has_ai_content: true }, new Date().toISOString())
  progress(100, 'revision stored')
  // New content: its embedding and links are recomputed.
  return { noteChanged: true, followUps: ['embedding'] }
}

function shortCause(e: FetchError): string {
  const c = (e.cause as Error | undefined)?.message ?? e.message
  return c.includes('timeout') || c.includes('aborted') ? 'timed out' : c.slice(0, 120)
}
