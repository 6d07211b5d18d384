import { describe, expect, test } from 'bun:test'
import { toNote, type NoteState } from '../../src/modules/notes/store.ts'
import type { Stores } from '../../src/store/ports.ts'
import { harness, isoAt, uid, uniqueMemory, type OpenStores } from './harness.ts'

const T0 = Date.UTC(2026, 0, 1)

async function note(s: Stores, memory: string, o: { tags?: string[]; title?: string | null; content?: string; at?: number; id?: string } = {}): Promise<NoteState> {
  return s.notes.insert({
    id: o.id ?? uid(),
    memory,
    title: o.title === undefined ? 'a title' : o.title,
    content: o.content ?? 'some content',
    tags: o.tags ?? [],
    now: isoAt(o.at ?? T0),
  })
}

/** NoteStore contract (src/modules/notes/store.ts). */
export function noteStoreContract(openStores: OpenStores): void {
  describe('NoteStore', () => {
    const { open } = harness(openStores)

    test('insert and get round-trip the note', async () => {
      const s = await open()
      const m = uniqueMemory()
      const id = uid()
      const n = await s.notes.insert({ id, memory: m, title: null, content: 'Ünïcode ✓ "quotes"', tags: ['x', 'y z'], now: isoAt(T0) })
      const want: NoteState = {
        id,
        memory: m,
        title: null,
        content: 'Ünïcode ✓ "quotes"',
        tags: ['x', 'y z'],
        has_ai_content: false,
        has_links: false,
        created_at: isoAt(T0),
        updated_at: isoAt(T0),
      }
      expect(n).toEqual(want)
      expect(await s.notes.get(id)).toEqual(want)
      expect(await s.notes.get(uid())).toBeNull()
    })

    test('list: newest first (created_at, then id), cursor pages, memory scoped', async () => {
      const s = await open()
      const m = uniqueMemory()
      const ids = ['00000000-0000-0000-0000-00000000000a', '00000000-0000-0000-0000-00000000000b', '00000000-0000-0000-0000-00000000000c'].map(
        (x) => x.replace(/^0{8}/, crypto.randomUUID().slice(0, 8)),
      )
      // Two notes share a timestamp: the id breaks the tie (descending).
      const a = await note(s, m, { at: T0, id: ids[0] })
      const b = await note(s, m, { at: T0 + 1000, id: 'b' + ids[1]!.slice(1) })
      const c = await note(s, m, { at: T0 + 1000, id: 'c' + ids[2]!.slice(1) })
      await note(s, uniqueMemory(), { at: T0 + 5000 })
      const all = await s.notes.list({ memory: m, restriction: null, limit: 10 })
      expect(all.map((n) => n.id)).toEqual([c.id, b.id, a.id])
      const page1 = await s.notes.list({ memory: m, restriction: null, limit: 2 })
      expect(page1.map((n) => n.id)).toEqual([c.id, b.id])
      const last = page1[1]!
      const page2 = await s.notes.list({ memory: m, restriction: null, limit: 2, cursor: { created_at: last.created_at, id: last.id } })
      expect(page2.map((n) => n.id)).toEqual([a.id])
    })

    test('list: tag filter and restriction match notes carrying any one of the tags', async () => {
      const s = await open()
      const m = uniqueMemory()
      const red = await note(s, m, { tags: ['red'], at: T0 + 1 })
      const blue = await note(s, m, { tags: ['blue', 'x'], at: T0 + 2 })
      const both = await note(s, m, { tags: ['red', 'blue'], at: T0 + 3 })
      const none = await note(s, m, { tags: [], at: T0 + 4 })
      const ids = async (o: { restriction: readonly string[] | null; tag?: string }) => (await s.notes.list({ memory: m, limit: 10, ...o })).map((n) => n.id)
      expect(await ids({ restriction: null })).toEqual([none.id, both.id, blue.id, red.id])
      expect(await ids({ restriction: null, tag: 'red' })).toEqual([both.id, red.id])
      expect(await ids({ restriction: ['red', 'x'] })).toEqual([both.id, blue.id, red.id])
      expect(await ids({ restriction: ['x'], tag: 'red' })).toEqual([])
      expect(await ids({ restriction: ['red'], tag: 'blue' })).toEqual([both.id])
      // An empty restriction sees no tagged-or-untagged note at all.
      expect(await ids({ restriction: [] })).toEqual([])
      // A tag is matched whole, not as a substring or JSON fragment.
      expect(await ids({ restriction: null, tag: 're' })).toEqual([])
      expect(await ids({ restriction: ['"red"'] })).toEqual([])
    })

    test('update changes only the given fields', async () => {
      const s = await open()
      const m = uniqueMemory()
      const n = await note(s, m, { tags: ['a'], title: 'old', content: 'old content' })
      await s.notes.update(n.id, { title: null, has_ai_content: true }, isoAt(T0 + 10))
      expect(await s.notes.get(n.id)).toEqual({ ...n, title: null, has_ai_content: true, updated_at: isoAt(T0 + 10) })
      await s.notes.update(n.id, { content: 'new', tags: ['b', 'c'] }, isoAt(T0 + 20))
      expect(await s.notes.get(n.id)).toEqual({ ...n, title: null, has_ai_content: true, content: 'new', tags: ['b', 'c'], updated_at: isoAt(T0 + 20) })
      expect((await s.notes.list({ memory: m, restriction: ['c'], limit: 5 })).map((x) => x.id)).toEqual([n.id])
      expect(await s.notes.list({ memory: m, restriction: ['a'], limit: 5 })).toEqual([])
    })

    test('embeddings: stored exactly, cleared, and listed for the other notes of the memory', async () => {
      const s = await open()
      const m = uniqueMemory()
      const a = await note(s, m, { tags: ['t'] })
      const b = await note(s, m, { tags: ['u'] })
      const c = await note(s, m)
      const v = new Float32Array([0.1, -2.5, 3.25, Math.PI])
      expect(await s.notes.getEmbedding(a.id)).toBeNull()
      await s.notes.setEmbedding(a.id, v)
      // A view into a larger buffer, at an offset: only its own bytes are stored.
      const big = new Float32Array([9, 9, 1, 2, 9])
      await s.notes.setEmbedding(b.id, big.subarray(2, 4))
      expect(Array.from((await s.notes.getEmbedding(a.id))!)).toEqual(Array.from(v))
      expect(Array.from((await s.notes.getEmbedding(b.id))!)).toEqual([1, 2])
      const others = await s.notes.embeddingsOf(m, a.id)
      expect(others.map((o) => ({ id: o.id, tags: o.tags, v: Array.from(o.vector) }))).toEqual([{ id: b.id, tags: ['u'], v: [1, 2] }])
      expect((await s.notes.embeddingsOf(m, c.id)).map((o) => o.id).sort()).toEqual([a.id, b.id].sort())
      await s.notes.clearEmbedding(a.id)
      expect(await s.notes.getEmbedding(a.id)).toBeNull()
      expect(await s.notes.embeddingsOf(m, b.id)).toEqual([])
    })

    test('replaceLinks: forward and reverse links, only touchable notes lose theirs; links best first with tags', async () => {
      const s = await open()
      const m = uniqueMemory()
      const x = await note(s, m, { tags: ['x'] })
      const a = await note(s, m, { tags: ['a'] })
      const b = await note(s, m, { tags: ['b'] })
      const hidden = await note(s, m, { tags: ['secret'] })
      // hidden → x and a → x exist; a later recomputation of x may only touch a and b.
      await s.notes.replaceLinks(hidden.id, [{ note_id: x.id, score: 0.5 }], [], [])
      await s.notes.replaceLinks(a.id, [{ note_id: x.id, score: 0.4 }], [], [])
      const changed = await s.notes.replaceLinks(x.id, [{ note_id: a.id, score: 0.9 }, { note_id: b.id, score: 0.7 }], [{ note_id: b.id, score: 0.7 }], [a.id, b.id])
      expect(changed.sort()).toEqual([a.id, b.id].sort())
      expect(await s.notes.links(x.id)).toEqual([
        { note_id: a.id, score: 0.9, tags: ['a'] },
        { note_id: b.id, score: 0.7, tags: ['b'] },
      ])
      expect(await s.notes.links(a.id)).toEqual([]) // its link to x was touchable, and not listed again
      expect(await s.notes.links(b.id)).toEqual([{ note_id: x.id, score: 0.7, tags: ['x'] }])
      expect(await s.notes.links(hidden.id)).toEqual([{ note_id: x.id, score: 0.5, tags: ['x'] }]) // not touchable: kept
      expect((await s.notes.get(x.id))!.has_links).toBe(true)
      expect((await s.notes.get(a.id))!.has_links).toBe(false)
      // toNote shows a reader only the links to notes it may see.
      const n = await toNote(s.notes, (await s.notes.get(x.id))!, ['b'])
      expect(n.links).toEqual([{ note_id: b.id, score: 0.7 }])
      expect(n.has_links).toBe(true)
      // Replacing again overwrites scores instead of failing on the existing pair.
      await s.notes.replaceLinks(x.id, [{ note_id: b.id, score: 0.25 }], [], [a.id, b.id])
      expect(await s.notes.links(x.id)).toEqual([{ note_id: b.id, score: 0.25, tags: ['b'] }])
    })

    test('delete removes the note and its links; returns the notes it linked to', async () => {
      const s = await open()
      const m = uniqueMemory()
      const x = await note(s, m)
      const a = await note(s, m)
      const b = await note(s, m)
      await s.notes.replaceLinks(x.id, [{ note_id: a.id, score: 0.9 }, { note_id: b.id, score: 0.8 }], [{ note_id: a.id, score: 0.9 }], [a.id, b.id])
      expect((await s.notes.delete(x.id)).sort()).toEqual([a.id, b.id].sort())
      expect(await s.notes.get(x.id)).toBeNull()
      expect(await s.notes.links(a.id)).toEqual([])
      expect(await s.notes.delete(x.id)).toEqual([])
    })

    test('scan: memory, restriction and tag filters; keyword hits in lower-cased title and content', async () => {
      const s = await open()
      const m = uniqueMemory()
      const a = await note(s, m, { title: 'Alpha Report', content: 'About BETA things', tags: ['red'] })
      const b = await note(s, m, { title: null, content: 'only alpha here', tags: ['blue'] })
      const c = await note(s, m, { title: 'nothing', content: 'matches %_ none', tags: ['red', 'blue'] })
      await note(s, uniqueMemory(), { title: 'alpha', content: 'beta' })
      const v = new Float32Array([1, 0, 0])
      await s.notes.setEmbedding(a.id, v)
      const byId = (rows: { id: string; hits: number }[]) => Object.fromEntries(rows.map((r) => [r.id, r.hits]))
      const all = await s.notes.scan({ memory: m, restriction: null, terms: ['alpha', 'beta'] })
      expect(byId(all)).toEqual({ [a.id]: 2, [b.id]: 1, [c.id]: 0 })
      const ra = all.find((r) => r.id === a.id)!
      expect(ra).toMatchObject({ title: 'Alpha Report', content: 'About BETA things', tags: ['red'], updated_at: isoAt(T0) })
      expect(Array.from(ra.embedding!)).toEqual([1, 0, 0])
      expect(all.find((r) => r.id === b.id)!.embedding).toBeNull()
      expect(byId(await s.notes.scan({ memory: m, restriction: ['blue'], terms: ['alpha'] }))).toEqual({ [b.id]: 1, [c.id]: 0 })
      expect(byId(await s.notes.scan({ memory: m, restriction: null, tags: ['red'], terms: ['alpha'] }))).toEqual({ [a.id]: 1, [c.id]: 0 })
      expect(byId(await s.notes.scan({ memory: m, restriction: ['red'], tags: ['blue'], terms: [] }))).toEqual({ [c.id]: 0 })
      // Terms are substrings, not patterns.
      expect(byId(await s.notes.scan({ memory: m, restriction: null, terms: ['%_'] }))).toEqual({ [a.id]: 0, [b.id]: 0, [c.id]: 1 })
      expect(byId(await s.notes.scan({ memory: m, restriction: null, terms: ['a_p'] }))).toEqual({ [a.id]: 0, [b.id]: 0, [c.id]: 0 })
    })
  })
}
