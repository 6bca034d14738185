/**
 * The seed's design with its configuration reads memoized: the bar of issue 24, item 4.
 *
 * The seed (seed-target.ts) reads its endpoint's record from its SLUG_KV namespace twice per
 * message: once to route (is `/<slug>/mcp` an endpoint?) and once in its proxy handler (where
 * does it go, under which header?). Those records do not change while it serves, so a design
 * that kept them in isolate memory would skip both reads; its token check (workers-oauth-provider
 * reading the token's record from OAUTH_KV) is the part that must stay a read per message, since
 * revocation has to take effect at once, and stays untouched.
 *
 * So this wraps the seed's Worker without changing a line of it: the bench writes a two-line
 * entry module (seed-target.ts, `memoizedSeedEntry`) that imports the seed's own default export
 * from the user's checkout and exports `memoizeConfigReads(seed)` instead; wrangler bundles that
 * entry with the seed's code and dependencies as they are. Every request reaches the seed's
 * `fetch` with an env whose SLUG_KV answers `get` from an isolate-level Map after the first read
 * of each key (writes and deletes go through and drop the key), and every other binding as it was.
 */

interface KvLike {
  get(key: string, options?: unknown): Promise<unknown>;
  put(key: string, ...rest: unknown[]): Promise<unknown>;
  delete(key: string): Promise<unknown>;
}

interface WorkerLike<Env, Context> {
  fetch(request: Request, env: Env, ctx: Context): Promise<Response>;
}

/** The namespace whose reads are memoized: the seed's endpoint records, keyed `slug:<slug>`. */
export const MEMOIZED_BINDING = 'SLUG_KV';

/**
 * A KV namespace whose found values are kept in `memo` (per key and read type); misses still
 * read. `put` and `delete` drop the key first; any other method goes to the namespace as it is.
 */
export function memoizedKv(kv: KvLike, memo: Map<string, unknown>): KvLike {
  const forget = (key: string) => {
    for (const cached of memo.keys()) if (cached.startsWith(`${key}\u0000`)) memo.delete(cached);
  };
  const own: KvLike = {
    async get(key, options) {
      // `get(key, "json")` and `get(key, { type: "json" })` name the same read.
      const type = typeof options === 'string' ? options : ((options as { type?: string } | undefined)?.type ?? 'text');
      const id = `${key}\u0000${type}`;
      if (memo.has(id)) return memo.get(id);
      const value = await kv.get(key, options);
      if (value !== null) memo.set(id, value);
      return value;
    },
    async put(key, ...rest) {
      forget(key);
      return kv.put(key, ...rest);
    },
    async delete(key) {
      forget(key);
      return kv.delete(key);
    },
  };
  return new Proxy(kv, {
    get(target, name) {
      if (name === 'get' || name === 'put' || name === 'delete') return own[name];
      const value = Reflect.get(target, name);
      // The runtime's binding methods must be called on the binding itself.
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

/** The seed's Worker, given an env whose MEMOIZED_BINDING reads come from isolate memory. */
export function memoizeConfigReads<Env extends object, Context>(seed: WorkerLike<Env, Context>): WorkerLike<Env, Context> {
  const memo = new Map<string, unknown>();
  // workerd hands every request of an isolate the same env object: wrap it once.
  const wrapped = new WeakMap<Env, Env>();
  return {
    fetch(request, env, ctx) {
      let memoEnv = wrapped.get(env);
      if (!memoEnv) {
        const kv = (env as Record<string, KvLike>)[MEMOIZED_BINDING];
        memoEnv = kv ? ({ ...env, [MEMOIZED_BINDING]: memoizedKv(kv, memo) } as Env) : env;
        wrapped.set(env, memoEnv);
      }
      return seed.fetch(request, memoEnv, ctx);
    },
  };
}
