import type { KVGetType, KVListKey, KVListOptions, KVListResult, KVPutOptions, Storage } from './contract.ts';
import { countOne, currentWindow, type Window, windowEnd } from './fixed-window.ts';
import {
  checkKey,
  compareKeys,
  decodeCursor,
  decodeValue,
  encodeCursor,
  isExpired,
  listLimit,
  preparePut,
  readsJson,
  toSeconds,
} from './rules.ts';

/**
 * A store that lives in one process's memory: for unit tests and throwaway runs. It follows the same
 * rules as the persistent stores (see rules.ts), so code tested against it behaves the same there.
 */
export function createMemoryStorage(options: { now?: () => number } = {}): Storage {
  const now = options.now ?? Date.now;
  const entries = new Map<string, { value: string; expiration: number | null; metadata: string | null }>();
  const windows = new Map<string, Window>();

  /** The live entry for a key; an expired one is dropped on sight so the map does not keep it. */
  function read(key: string) {
    const entry = entries.get(key);
    if (entry && isExpired(entry.expiration, toSeconds(now()))) {
      entries.delete(key);
      return undefined;
    }
    return entry;
  }

  /** A live value: `get` and `getNow` both read through here. */
  function readValue(key: string): string | null {
    checkKey('GET', key);
    return read(key)?.value ?? null;
  }

  return {
    kv: {
      async get(key: string, type?: KVGetType) {
        const json = readsJson(type);
        const value = readValue(key);
        return value === null ? null : decodeValue(value, json);
      },

      getNow: readValue,

      async put(key: string, value: string, putOptions?: KVPutOptions) {
        const { expiration, metadata } = preparePut(key, value, putOptions, now());
        entries.set(key, { value, expiration, metadata });
      },

      async delete(key: string) {
        checkKey('DELETE', key);
        entries.delete(key);
      },

      async list(listOptions: KVListOptions = {}): Promise<KVListResult> {
        const limit = listLimit(listOptions.limit);
        const prefix = listOptions.prefix ?? '';
        const after = listOptions.cursor ? decodeCursor(listOptions.cursor) : undefined;
        const nowSeconds = toSeconds(now());
        // A scan and a sort per call: fine for the test-sized data this store is meant for.
        const names = [...entries.keys()]
          .filter((name) => name.startsWith(prefix) && (after === undefined || compareKeys(name, after) > 0))
          .filter((name) => !isExpired(entries.get(name)!.expiration, nowSeconds))
          .sort(compareKeys);
        const page = names.slice(0, limit);
        const keys = page.map((name): KVListKey => {
          const { expiration, metadata } = entries.get(name)!;
          const key: KVListKey = { name };
          if (expiration !== null) key.expiration = expiration;
          if (metadata !== null) key.metadata = JSON.parse(metadata);
          return key;
        });
        const last = page.at(-1);
        return names.length > limit && last !== undefined
          ? { keys, list_complete: false, cursor: encodeCursor(last) }
          : { keys, list_complete: true };
      },
    },

    counters: {
      async increment(key: string, windowSeconds: number) {
        const resetAt = windowEnd(now(), windowSeconds);
        const next = countOne(windows.get(key), resetAt);
        windows.set(key, next);
        return { ...next };
      },
      async peek(key: string, windowSeconds: number) {
        return currentWindow(windows.get(key), windowEnd(now(), windowSeconds));
      },
    },

    async close() {},
  };
}
