import { describe, expect, test } from 'bun:test'
import { Revocations } from '../../src/auth/revocations.ts'
import { harness, uid, type OpenStores } from './harness.ts'

/** RevocationStore contract (src/auth/revocations.ts). */
export function revocationStoreContract(openStores: OpenStores): void {
  describe('RevocationStore', () => {
    const { open } = harness(openStores)

    test('add is idempotent; all lists every kept id; prune forgets those expired before the cut', async () => {
      const s = await open()
      const [old, edge, fresh] = [uid(), uid(), uid()]
      await s.revocations.add(old, 100)
      await s.revocations.add(old, 100)
      await s.revocations.add(edge, 200)
      await s.revocations.add(fresh, 4_000_000_000)
      const all = await s.revocations.all()
      for (const j of [old, edge, fresh]) expect(all.filter((x) => x === j).length).toBe(1)
      expect(await s.revocations.prune(200)).toContain(old)
      const after = await s.revocations.all()
      expect(after).not.toContain(old)
      expect(after).toContain(edge)
      expect(await s.revocations.prune(200)).toEqual([])
    })

    test('a revocation made through one instance is loaded by another', async () => {
      const a = await open()
      const b = await open()
      const jti = uid()
      const ra = await Revocations.load(a.revocations)
      await ra.revoke(jti, Math.floor(Date.now() / 1000) + 3600)
      const rb = await Revocations.load(b.revocations)
      expect(rb.has(jti)).toBe(true)
    })
  })
}
