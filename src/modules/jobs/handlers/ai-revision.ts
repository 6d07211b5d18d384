import { FetchError, ofetch } from 'ofetch'
import { CONTENT_MAX } from '../../notes/model.ts'
import type { JobHandler } from './types.ts'
import { NoteGoneError, TransientError } from './types.ts'

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

/**
 * The job error for an HTTP error status. Deliberately without the response body: upstream error
 * messages can echo (parts of) the API key.
 */
export function statusError(status: number): Error {
  if (isTransientStatus(status)) return new TransientError(`inference endpoint answered ${status}`)
  if (status === 401 || status === 403)
    return new Error(`inference endpoint rejected the credentials (${status}): check MATRIC_INFERENCE_API_KEY`)
  return new Error(`inference endpoint refused the request (${status})`)
}

/** Replaces every occurrence of `secret` in `text` (defence in depth for job errors, which clients see). */
export function scrub(text: string, secret: string | undefined): string {
  return secret && secret.length >= 4 ? text.split(secret).join('[redacted]') : text
}

interface ChatResponse {
  choices?: { message?: { content?: unknown } }[]
}

/** Revises the note's content through an OpenAI-compatible chat-completions endpoint. */
export const aiRevision: JobHandler = async ({ note, notes, config, progress, signal, instructions }) => {
  const { url, model, apiKey, timeoutMs } = config.inference
  if (!url) throw new Error('AI revision is not configured: set MATRIC_INFERENCE_URL to an OpenAI-compatible endpoint')
  progress(10, 'asking the model')
  // ofetch ignores its `timeout` option when a signal is passed: combine the two ourselves.
  const timeout = AbortSignal.timeout(timeoutMs)
  let res: ChatResponse
  try {
    res = await ofetch<ChatResponse>(completionsUrl(url), {
      method: 'POST',
      body: {
        model,
        messages: [
          { role: 'system', content: REVISION_PROMPT },
          // The caller's wishes, as the system's second word: the note itself stays the only user message.
          ...(instructions ? [{ role: 'system', content: `The author asks for this revision: ${instructions}` }] : []),
          { role: 'user', content: note.content },
        ],
      },
      headers: apiKey ? { authorization: `Bearer ${apiKey}` } : {},
      retry: 0,
      signal: AbortSignal.any([signal, timeout]),
    })
  } catch (e) {
    if (signal.aborted) throw e // the worker is stopping; it ignores the outcome
    if (timeout.aborted) throw new TransientError(`inference endpoint timed out after ${timeoutMs} ms`)
    if (e instanceof FetchError) {
      const status = e.response?.status
      if (status !== undefined) throw statusError(status)
      throw new TransientError(scrub(`inference endpoint unreachable: ${shortCause(e)}`, apiKey))
    }
    throw e
  }
  const content = res?.choices?.[0]?.message?.content
  if (typeof content !== 'string' || !content.trim()) throw new Error('inference endpoint returned no revised content')
  if (content.length > CONTENT_MAX) throw new Error(`inference endpoint returned ${content.length} characters; a note holds at most ${CONTENT_MAX}`)
  // The request took a while: the note may have been deleted or edited meanwhile.
  const now = await notes.get(note.id)
  if (!now) throw new NoteGoneError('note no longer exists')
  if (now.content !== note.content) throw new TransientError('note content changed during the revision; revising the new content')
  progress(80, 'storing the revision')
  await notes.update(note.id, { content: content.trim(), has_ai_content: true }, new Date().toISOString())
  // Like a content PATCH: the old vector no longer describes the note (other notes' linking skips it until re-embedded).
  await notes.clearEmbedding(note.id)
  progress(100, 'revision stored')
  // New content: its embedding and links are recomputed.
  return { followUps: ['embedding'] }
}

function shortCause(e: FetchError): string {
  const cause = e.cause as { code?: unknown; message?: unknown } | undefined
  const code = typeof cause?.code === 'string' ? cause.code : undefined
  const msg = typeof cause?.message === 'string' ? cause.message : e.message
  // The message may carry the URL (and any credentials in it): prefer the error code.
  return code ?? msg.replace(/https?:\/\/\S+/g, '<url>').slice(0, 120)
}
