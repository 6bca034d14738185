import type { CounterStore, KVStore } from '../../src/storage/contract.ts';
import { createMemoryStorage } from '../../src/storage/memory.ts';
import { StorageUnavailableError } from '../../src/storage/unavailable.ts';

/**
 * The memory store behind a switch: while `state.down` is set, every call fails as an unreachable
 * store does (StorageUnavailableError, as the Redis store fails), and it serves again once unset.
 * For the app in-process (`startApp({ platform: { kv, counters } })`).
 */
export function switchableStorage(): { kv: KVStore; counters: CounterStore; state: { down: boolean } } {
  const storage = createMemoryStorage();
  const state = { down: false };
  /** Runs `call` unless the store is down, when it fails as an unreachable store does. */
  const when = <T>(call: () => Promise<T>): Promise<T> =>
    state.down ? Promise.reject(new StorageUnavailableError('test store is down')) : call();
  const kv: KVStore = {
    get: (key, type) => when(() => storage.kv.get(key, type)),
    put: (key, value, options) => when(() => storage.kv.put(key, value, options)),
    delete: (key) => when(() => storage.kv.delete(key)),
    list: (options) => when(() => storage.kv.list(options)),
  };
  const counters: CounterStore = {
    increment: (key, window) => when(() => storage.counters.increment(key, window)),
    peek: (key, window) => when(() => storage.counters.peek(key, window)),
  };
  return { kv, counters, state };
}
