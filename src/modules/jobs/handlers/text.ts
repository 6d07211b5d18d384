/** Pure text functions behind the title, embedding and linking jobs. */

export const EMBEDDING_DIMS = 512
const TITLE_MAX = 80

const STOPWORDS = new Set(
  'a an and are as at be but by for from has have he her his i in is it its of on or our she so that the their them they this to was we were what when which who will with you your not no do does did can could would should'.split(
    ' ',
  ),
)

/**
 * A title from the first markdown heading (ATX `# …` or setext `…\n===`, outside code fences), else the
 * first sentence of the first paragraph; inline markdown and list/quote markers removed; ≤ 80 characters,
 * cut at a word. null when the content has no text.
 */
export function extractTitle(content: string): string | null {
  const lines = content.split(/\r?\n/)
  const raw = headingOf(lines) ?? firstSentence(firstParagraph(lines))
  const title = stripInlineMarkdown(raw).replace(/\s+/g, ' ').trim()
  if (!title) return null
  if (title.length <= TITLE_MAX) return title
  const cut = title.slice(0, TITLE_MAX - 1)
  const space = cut.lastIndexOf(' ')
  return (space > TITLE_MAX / 2 ? cut.slice(0, space) : cut).replace(/[\s,;:.-]+$/, '') + '…'
}

const FENCE = /^(```|~~~)/

function headingOf(lines: string[]): string | null {
  let inFence = false
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!.trim()
    if (FENCE.test(l)) {
      inFence = !inFence
      continue
    }
    if (inFence || !l) continue
    const atx = /^#{1,6}\s+(.*?)(?:\s+#+)?$/.exec(l)
    if (atx?.[1]) return atx[1]
    const next = lines[i + 1]?.trim()
    if (next && /^(=+|-+)$/.test(next) && !/^(=+|-+)$/.test(l) && !/^([-*+>]|\d+[.)])\s/.test(l)) return l
  }
  return null
}

/** The first block of consecutive text lines outside code fences, without list/quote markers. */
function firstParagraph(lines: string[]): string {
  const out: string[] = []
  let inFence = false
  for (const line of lines) {
    const l = line.trim()
    if (FENCE.test(l)) {
      inFence = !inFence
      if (out.length) break
      continue
    }
    if (inFence) continue
    // blank lines, empty headings (`#`) and rules (`---`, `***`) end a paragraph
    if (!l || /^(#{1,6}|=+|-+|\*{3,}|_{3,})$/.test(l)) {
      if (out.length) break
      continue
    }
    out.push(l.replace(/^(>\s*)+/, '').replace(/^([-*+]|\d+[.)])\s+/, ''))
  }
  // Only code: fall back to its first line rather than no title at all.
  return out.length ? out.join(' ') : (lines.map((l) => l.trim()).find((l) => l && !FENCE.test(l)) ?? '')
}

function firstSentence(text: string): string {
  const m = /^(.+?[.!?])(\s|$)/.exec(text)
  return m ? m[1]!.replace(/\.+$/, '') : text
}

function stripInlineMarkdown(s: string): string {
  return s
    .replace(/!\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/[*`~]+/g, '')
    // `_` only as emphasis at word edges: snake_case names keep theirs
    .replace(/(^|[\s(])_+|_+(?=[\s).,;:!?]|$)/g, '$1')
    .replace(/^>\s*/, '')
}

/**
 * A light English suffix folding so that inflections meet in one feature: plurals (`vectors` → `vector`,
 * `queries` → `query`), then `-ing` and `-ed` when a stem of at least four letters remains
 * (`embeddings` and `embedding` → `embedd`). Deliberately crude: it only has to be consistent.
 */
export function stem(w: string): string {
  if (w.length > 4 && w.endsWith('ies')) return w.slice(0, -3) + 'y'
  if (w.endsWith('sses')) w = w.slice(0, -2)
  else if (w.length > 3 && w.endsWith('s') && !/(ss|us|is)$/.test(w)) w = w.slice(0, -1)
  if (w.length >= 7 && w.endsWith('ing')) return w.slice(0, -3)
  if (w.length >= 6 && w.endsWith('ed')) return w.slice(0, -2)
  return w
}

/** Lower-cased, suffix-folded word tokens without stopwords and one-letter words. */
export function tokenize(text: string): string[] {
  const out: string[] = []
  for (const m of text.toLowerCase().matchAll(/[\p{L}\p{N}]+/gu)) {
    const w = m[0]
    if (w.length > 1 && !STOPWORDS.has(w)) out.push(stem(w))
  }
  return out
}

/** 32-bit FNV-1a over the UTF-16 code units of a string. */
export function fnv1a(s: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return h >>> 0
}

/**
 * Feature-hashed term vector: each token (and each adjacent pair) adds 1 + log(tf) to a signed bucket;
 * the result is L2-normalised so cosine similarity is a dot product. Empty text gives a zero vector.
 */
export function embed(text: string, dims = EMBEDDING_DIMS): Float32Array {
  const tokens = tokenize(text)
  const tf = new Map<string, number>()
  for (let i = 0; i < tokens.length; i++) {
    tf.set(tokens[i]!, (tf.get(tokens[i]!) ?? 0) + 1)
    if (i > 0) {
      const bigram = tokens[i - 1] + ' ' + tokens[i]
      tf.set(bigram, (tf.get(bigram) ?? 0) + 0.5)
    }
  }
  const v = new Float32Array(dims)
  for (const [term, count] of tf) {
    const h = fnv1a(term)
    const sign = h & 0x80000000 ? -1 : 1
    const i = h % dims
    v[i] = v[i]! + sign * (1 + Math.log(count + 1) - Math.log(2))
  }
  let norm = 0
  for (const x of v) norm += x * x
  norm = Math.sqrt(norm)
  if (norm > 0) for (let i = 0; i < dims; i++) v[i] = v[i]! / norm
  return v
}

export function cosine(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return 0
  let dot = 0
  let na = 0
  let nb = 0
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!
    na += a[i]! * a[i]!
    nb += b[i]! * b[i]!
  }
  return na && nb ? dot / Math.sqrt(na * nb) : 0
}

/** The best `max` candidates at or above `threshold`, best first. */
export function bestMatches(
  target: Float32Array,
  candidates: { id: string; vector: Float32Array }[],
  threshold: number,
  max: number,
): { note_id: string; score: number }[] {
  return candidates
    .map((c) => ({ note_id: c.id, score: cosine(target, c.vector) }))
    .filter((m) => m.score >= threshold)
    .sort((x, y) => y.score - x.score || (x.note_id < y.note_id ? -1 : 1))
    .slice(0, max)
}
