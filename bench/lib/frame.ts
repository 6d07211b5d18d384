/**
 * The benchmark message. HotM frames carry no timestamp, so the publisher embeds a sequence number and
 * its publish-start time (performance.now() of the load generator, which also receives) in
 * `JobProgress.message`: `"<seq>|<t ms>|<padding>"`. The same bytes go to every server under test, so
 * the message size is identical for ours and the baselines.
 */

export interface BenchPayload {
  type: 'JobProgress'
  job_id: string
  job_type: string
  progress: number
  progress_percent: number
  message: string
}

export interface Stamp {
  seq: number
  t: number
}

const MARKER = '"message":"'

/** The payload for event `seq` published at `t`, padded so that its JSON is about `bytes` long. */
export function benchPayload(seq: number, t: number, bytes: number, run = 'bench'): BenchPayload {
  const head = `${seq}|${t.toFixed(3)}|`
  const p: BenchPayload = { type: 'JobProgress', job_id: `${run}-${seq}`, job_type: 'Bench', progress: 50, progress_percent: 50, message: head }
  const pad = bytes - JSON.stringify(p).length
  if (pad > 0) p.message = head + 'x'.repeat(Math.min(pad, 1000 - head.length))
  return p
}

/** The HotM frame our server writes for that payload (`type` first, fields in schema order). */
export function frameOf(p: BenchPayload): string {
  return JSON.stringify(p)
}

/**
 * Finds the stamp in a HotM frame, an SSE `data:` envelope or a webhook body without parsing the JSON
 * (the receive path runs up to a million times a second and must stay cheap and identical for all servers).
 * null for any other message.
 */
export function parseStamp(text: string): Stamp | null {
  const i = text.indexOf(MARKER)
  if (i < 0) return null
  const a = i + MARKER.length
  const b = text.indexOf('|', a)
  if (b < 0) return null
  const c = text.indexOf('|', b + 1)
  if (c < 0) return null
  const seq = Number(text.slice(a, b))
  const t = Number(text.slice(b + 1, c))
  if (!Number.isInteger(seq) || !Number.isFinite(t)) return null
  return { seq, t }
}

/**
 * An envelope shaped like ours (docs/events.md) around a payload, for the raw SSE baseline: same field set and
 * about the same length as the `data:` line our server writes.
 */
export function envelopeLike(p: BenchPayload, eventId: string, occurredAt: string): string {
  return JSON.stringify({
    event_id: eventId,
    event_type: 'job.progress',
    occurred_at: occurredAt,
    memory: 'default',
    actor: { kind: 'user', id: 'bench-admin' },
    entity_type: 'job',
    entity_id: p.job_id,
    payload_version: 1,
    payload: p,
  })
}
