import type { Platform } from '../platform.ts';
import { replacementMarker } from './key-replacement.ts';

/**
 * Remembers token checks, so a client's second request costs one store read instead of the
 * engine's four WebCrypto operations (hash, unwrap the grant key, import it, decrypt the props:
 * about 0.6 ms of CPU on Node, the largest share of a proxied request; `npm run bench:token-check`).
 *
 * What keeps it as safe as no cache:
 * - Revocation stays immediate on every replica: every hit still reads the token's own record
 *   (`token:{slug}:{grantId}:{sha256(token)}`) from the shared store, the record that revoking the
 *   token, its grant, or every grant of the endpoint deletes. No record, no answer.
 * - Entries are keyed by the SHA-256 of the token (the engine's own token id), never the token.
 * - An entry, decrypted key included, is dropped when its token expires: a timer per entry (unref'd
 *   on Node) and a sweep on every check, so nothing outlives the token even when no request comes.
 * - At most `max` entries; the oldest go first.
 */
export interface Validation {
  /** Unix seconds. */
  expiresAt?: number;
}

interface Entry<V> {
  /**
   * The token's record (`token:{slug}:{grantId}:{id}`), built once: every hit reads the store by
   * this same string, whose hash the maps on the way (this one's, the SQLite read cache's) keep.
   */
  recordKey: string;
  audience: string;
  validation: V;
  /** The version of the grant's key replacements this validation reflects (key-replacement.ts). */
  version: number;
  expiresAtMs: number;
  timer: ReturnType<typeof setTimeout>;
  /**
   * The token record's text as the last hit read it, and its replacement mark: the SQLite read
   * cache hands back the very same string while nothing changed, so the mark is not searched for
   * again on every message.
   */
  record?: string;
  marked?: number;
}

/**
 * Brings a validation up to date with its grant's key replacements (`reopen`: read them again), or
 * refuses it (null); `version` is the replacement version it reflects. Called after every full
 * check, and on a hit only for a token whose record carries a replacement mark.
 */
export type Update<V> = (validation: V, seen: { reopen: boolean; version: number }) => Promise<{ validation: V; version: number } | null>;

export interface TokenCacheOptions {
  max?: number;
  now?: () => number;
  /** A synchronous SHA-256 (hex) when the runtime has one (Platform.sha256Hex); WebCrypto otherwise. */
  sha256Hex?: (text: string) => string;
}

export class TokenCheckCache<V extends Validation> {
  readonly #kv: Platform['kv'];
  readonly #entries = new Map<string, Entry<V>>();
  readonly #max: number;
  readonly #now: () => number;
  readonly #hash: (text: string) => string | Promise<string>;
  /** No entry expires before this (ms): the sweep's next work. */
  #sweepAt = Number.POSITIVE_INFINITY;

  constructor(kv: Platform['kv'], options: TokenCacheOptions = {}) {
    this.#kv = kv;
    this.#max = options.max ?? 10_000;
    this.#now = options.now ?? Date.now;
    this.#hash = options.sha256Hex ?? sha256Hex;
  }

  get size(): number {
    return this.#entries.size;
  }

  /**
   * The validation of `token` for `audience`: remembered (after confirming in the store that the
   * token still exists), or from `check` (the engine's full validation), which is then remembered.
   *
   * `update` brings a validation up to date with the grant's key replacements
   * (key-replacement.ts): after every full check, and on a hit only when the token's record, read
   * anyway, carries a replacement mark, so a cached check never keeps sending a replaced key and an
   * untouched grant pays no extra read.
   *
   * Answered synchronously when nothing has to be waited for: a hit on a store that reads
   * synchronously (`getNow`: Node's SQLite), hashed synchronously (Platform.sha256Hex), for a grant
   * without replacements. That is every message of a client after its first, on Node; a promise
   * per message would cost a microtask turn and a lookup of `then` on the validation it settles with.
   */
  validate(
    audience: string,
    token: string,
    parts: { slug: string; grantId: string },
    check: () => Promise<V | null>,
    update?: Update<V>,
  ): V | null | Promise<V | null> {
    const hashed = this.#hash(token);
    if (typeof hashed !== 'string') return hashed.then((id) => this.#validateHashed(id, parts, audience, check, update));
    return this.#validateHashed(hashed, parts, audience, check, update);
  }

  /**
   * Entries are found by the token's hash alone (`id`): `parts` are the token's own (its
   * `{slug}:{grantId}:` prefix, the engine's tokenParts), so the hash names its record as well.
   */
  #validateHashed(
    id: string,
    parts: { slug: string; grantId: string },
    audience: string,
    check: () => Promise<V | null>,
    update?: Update<V>,
  ): V | null | Promise<V | null> {
    const now = this.#now();
    this.#sweep(now);
    const hit = this.#entries.get(id);
    if (!hit || hit.audience !== audience || hit.expiresAtMs <= now)
      return this.#checkAnew(id, `token:${parts.slug}:${parts.grantId}:${id}`, audience, check, update);
    const kv = this.#kv;
    if (kv.getNow) return this.#confirmed(id, hit, kv.getNow(hit.recordKey), update);
    return (kv.get(hit.recordKey) as Promise<string | null>).then((record) => this.#confirmed(id, hit, record, update));
  }

  /** A remembered validation, given its token's record as the store has it now (null: revoked, refused). */
  #confirmed(id: string, hit: Entry<V>, record: string | null, update?: Update<V>): V | null | Promise<V | null> {
    if (record === null) {
      this.#drop(id);
      return null;
    }
    if (!update) return hit.validation;
    if (record !== hit.record) {
      hit.record = record;
      hit.marked = replacementMarker(record);
    }
    return hit.marked === 0 ? hit.validation : this.#replaced(id, hit, hit.marked!, update);
  }

  /** A remembered validation of a grant whose key was replaced: brought up to date (`reopen` when the mark moved past it). */
  async #replaced(id: string, hit: Entry<V>, marked: number, update: Update<V>): Promise<V | null> {
    const fresh = await update(hit.validation, { reopen: marked !== hit.version, version: hit.version });
    if (!fresh) {
      this.#drop(id);
      return null;
    }
    hit.validation = fresh.validation;
    hit.version = fresh.version;
    return hit.validation;
  }

  /** The engine's full check, brought up to date with replacements, and remembered until the token expires. */
  async #checkAnew(id: string, recordKey: string, audience: string, check: () => Promise<V | null>, update?: Update<V>): Promise<V | null> {
    let validation = await check();
    let version = 0;
    if (validation && update) {
      const fresh = await update(validation, { reopen: true, version: 0 });
      if (!fresh) return null;
      ({ validation, version } = fresh);
    }
    if (validation && typeof validation.expiresAt === 'number')
      this.#remember(id, recordKey, audience, validation, version, validation.expiresAt * 1000);
    return validation;
  }

  #remember(key: string, recordKey: string, audience: string, validation: V, version: number, expiresAtMs: number): void {
    const ttl = expiresAtMs - this.#now();
    if (ttl <= 0) return;
    this.#drop(key);
    while (this.#entries.size >= this.#max) this.#drop(this.#entries.keys().next().value!);
    const timer = setTimeout(() => this.#drop(key), ttl);
    (timer as { unref?: () => void }).unref?.();
    this.#entries.set(key, { recordKey, audience, validation, version, expiresAtMs, timer });
    if (expiresAtMs < this.#sweepAt) this.#sweepAt = expiresAtMs;
  }

  /**
   * Tokens of one endpoint share a lifetime, so insertion order is expiry order: stop at the first
   * live one. Until that one's expiry (`#sweepAt`) there is nothing to sweep, so a check does not
   * walk the map at all.
   */
  #sweep(now: number): void {
    if (now < this.#sweepAt) return;
    this.#sweepAt = Number.POSITIVE_INFINITY;
    for (const [key, entry] of this.#entries) {
      if (entry.expiresAtMs > now) {
        this.#sweepAt = entry.expiresAtMs;
        return;
      }
      this.#drop(key);
    }
  }

  #drop(key: string): void {
    const entry = this.#entries.get(key);
    if (!entry) return;
    clearTimeout(entry.timer);
    this.#entries.delete(key);
  }
}

/** The engine's token id: SHA-256 of the token, lower-case hex. */
async function sha256Hex(text: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text)));
  let hex = '';
  for (const byte of digest) hex += byte.toString(16).padStart(2, '0');
  return hex;
}
