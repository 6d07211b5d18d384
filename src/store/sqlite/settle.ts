/** Runs synchronous store work and hands back its result (or its error) as a settled promise. */
export function settle<T>(fn: () => T): Promise<T> {
  try {
    return Promise.resolve(fn())
  } catch (e) {
    return Promise.reject(e)
  }
}
