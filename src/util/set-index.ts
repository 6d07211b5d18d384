/** Indexes of the form key → set of members (streams of a memory, listeners of a key): an empty set is removed. */

export function addTo<K, V>(m: Map<K, Set<V>>, k: K, v: V): void {
  let set = m.get(k)
  if (!set) m.set(k, (set = new Set()))
  set.add(v)
}

export function removeFrom<K, V>(m: Map<K, Set<V>>, k: K, v: V): void {
  const set = m.get(k)
  if (!set) return
  set.delete(v)
  if (!set.size) m.delete(k)
}
