import { describe, expect, test } from 'bun:test'
import { harness, uid, type OpenStores } from './harness.ts'

/** StreamTokenStore contract (src/modules/realtime/tokens.ts). */
export function streamTokenStoreContract(openStores: OpenStores): void {
  describe('StreamTokenStore', () => {
    const { open } = harness(openStores)

    test('insert and get keep subject, memories (JSON) and expiry', async () => {
      const s = await open()
      const [all, some] = [uid(), uid()]
      const before = Date.now()
      await s.streamTokens.insert(all, 'alice', '*', 2_000_000_000)
      await s.streamTokens.insert(some, 'bob', ['a', 'b'], 2_000_000_001)
      const r = (await s.streamTokens.get(all))!
      expect(r).toEqual({ jti: all, sub: 'alice', memories: '"*"', expires_at: 2_000_000_000, created_at: r.created_at, revoked_at: null })
      expect(Date.parse(r.created_at)).toBeGreaterThanOrEqual(before - 1000)
      expect((await s.streamTokens.get(some))!.memories).toBe('["a","b"]')
      expect(await s.streamTokens.get(uid())).toBeNull()
      await expect(s.streamTokens.insert(all, 'mallory', '*', 1)).rejects.toThrow()
    })

    test('markRevoked sets revoked_at once', async () => {
      const s = await open()
      const jti = uid()
      await s.streamTokens.insert(jti, 'alice', ['a'], 2_000_000_000)
      await s.streamTokens.markRevoked(jti)
      const first = (await s.streamTokens.get(jti))!.revoked_at
      expect(first).not.toBeNull()
      // A second revocation keeps the first time (markRevoked takes no clock: equal times also pass here).
      await s.streamTokens.markRevoked(jti)
      expect((await s.streamTokens.get(jti))!.revoked_at).toBe(first)
      await s.streamTokens.markRevoked(uid())
    })

    test('prune forgets tokens expired before now, except those still in use', async () => {
      const s = await open()
      const [expired, kept, live, edge] = [uid(), uid(), uid(), uid()]
      await s.streamTokens.insert(expired, 'a', '*', 1000)
      await s.streamTokens.insert(kept, 'a', '*', 1000)
      await s.streamTokens.insert(live, 'a', '*', 3000)
      await s.streamTokens.insert(edge, 'a', '*', 2000)
      expect(await s.streamTokens.prune(2000, [kept, uid()])).toBeGreaterThanOrEqual(1)
      expect(await s.streamTokens.get(expired)).toBeNull()
      expect(await s.streamTokens.get(kept)).not.toBeNull()
      expect(await s.streamTokens.get(edge)).not.toBeNull() // expires at 2000: not before it
      expect(await s.streamTokens.get(live)).not.toBeNull()
      expect(await s.streamTokens.prune(2001, [])).toBeGreaterThanOrEqual(2)
      expect(await s.streamTokens.get(kept)).toBeNull()
      expect(await s.streamTokens.get(edge)).toBeNull()
    })
  })
}
