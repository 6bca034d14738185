/**
 * The one storage seam. Shaped like Workers KV because the OAuth engine
 * (@cloudflare/workers-oauth-provider) talks to exactly this surface as `env.OAUTH_KV`,
 * and every store implements it: memory (tests), SQLite (`adapters/node/sqlite.ts`) and Workers KV
 * itself. A new backend implements this file and passes test/storage/kv-contract.ts.
 *
 * Semantics every implementation keeps:
 * - values are strings; `get(key, 'json')` / `get(key, { type: 'json' })` parses them;
 * - `expiration` is an absolute Unix time in seconds, `expirationTtl` seconds from now;
 *   an expired key reads as absent and is never listed;
 * - `metadata` is any JSON value stored beside the value and returned by `list()`;
 * - `list()` returns keys in lexicographic order, at most `limit` (default and maximum 1000),
 *   with `cursor` to continue and `list_complete` once there is nothing more.
 */
export interface KVPutOptions {
  expiration?: number;
  expirationTtl?: number;
  metadata?: unknown;
}

export interface KVListOptions {
  prefix?: string | null;
  cursor?: string | null;
  limit?: number;
}

export interface KVListKey {
  name: string;
  expiration?: number;
  metadata?: unknown;
}

export interface KVListResult {
  keys: KVListKey[];
  list_complete: boolean;
  cursor?: string;
}

export type KVGetType = 'text' | 'json' | { type: 'text' | 'json' };

export interface KVStore {
  // biome-ignore lint/suspicious/noExplicitAny: Workers KV's own signature; the engine is typed against it.
  get(key: string, type?: KVGetType): Promise<any>;
  put(key: string, value: string, options?: KVPutOptions): Promise<void>;
  delete(key: string): Promise<void>;
  list(options?: KVListOptions): Promise<KVListResult>;
  /**
   * `get(key)` as text, answered synchronously: only where the store reads without waiting (Node's
   * SQLite, the memory store). The token check of every MCP message (src/oauth/token-cache.ts) uses
   * it when present, so a remembered check settles no promise: each costs a microtask turn and a
   * lookup of `then` on what it settles with. Same rules as `get` (expiry, key checks).
   */
  getNow?(key: string): string | null;
}

/**
 * Atomic fixed-window counters for rate limits. Kept beside the KV store (same database)
 * so limits hold across every process that shares it.
 */
export interface CounterStore {
  /** Adds one to the counter for `key` in the current window and returns the new count. */
  increment(key: string, windowSeconds: number): Promise<{ count: number; resetAt: number }>;
  /** The count for `key` in the current window, without adding to it (0 when nothing was counted there). */
  peek(key: string, windowSeconds: number): Promise<{ count: number; resetAt: number }>;
}

/** Everything a storage backend provides; `close()` releases files and connections. */
export interface Storage {
  kv: KVStore;
  counters: CounterStore;
  close(): Promise<void>;
}

/** Reads the `type` argument the way Workers KV does. */
export function wantsJson(type: KVGetType | undefined): boolean {
  return type === 'json' || (typeof type === 'object' && type?.type === 'json');
}
