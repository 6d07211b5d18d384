import { describe, expect, test } from 'bun:test'
import { harness, type OpenStores } from './harness.ts'

/** StoreProbe contract (src/store/ports.ts), and close(). */
export function probeContract(openStores: OpenStores): void {
  describe('StoreProbe', () => {
    const { open } = harness(openStores)

    test('read and write succeed on a healthy store, repeatedly', async () => {
      const s = await open()
      await s.probe.read()
      await s.probe.write(new Date().toISOString())
      await s.probe.write(new Date().toISOString())
      await s.probe.read()
    })

    test('after close, the probes fail', async () => {
      const s = await openStores()
      await s.close()
      await expect(s.probe.read()).rejects.toThrow()
      await expect(s.probe.write(new Date().toISOString())).rejects.toThrow()
    })

    test('data written through one instance is read through another (one shared store)', async () => {
      const a = await open()
      const b = await open()
      const [seq] = await a.events.appendBatch([
        { event_id: crypto.randomUUID(), memory: 'probe-shared', event_type: 'X', entity_id: null, tags: null, envelope: '{}', created_ms: Date.now() },
      ])
      expect(await b.events.lastSeq()).toBeGreaterThanOrEqual(seq!)
      expect(typeof b.kind).toBe('string')
    })
  })
}
