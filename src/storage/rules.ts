import { base64url } from '../crypto.ts';
import { type KVGetType, type KVPutOptions, wantsJson } from './contract.ts';

/**
 * Workers KV's rules, shared by every store we implement. Enforcing Cloudflare's limits on Node too
 * means a call that would fail only in production on Workers (a 30-second TTL, a 600-byte key)
 * fails in the unit tests instead. Web standards only, so this also runs inside a Worker.
 */
export const MIN_EXPIRATION_TTL = 60;
export const MAX_LIST_LIMIT = 1000;
export const MAX_KEY_BYTES = 512;
export const MAX_METADATA_BYTES = 1024;
export const MAX_VALUE_BYTES = 25 * 1024 * 1024;

/** Thrown where Workers KV would reject the call; the message reads like the one Workers gives. */
export class KVError extends Error {
  override name = 'KVError';
  readonly status: number;
  constructor(operation: 'GET' | 'PUT' | 'DELETE' | 'LIST', status: number, detail: string) {
    super(`KV ${operation} failed: ${status} ${detail}`);
    this.status = status;
  }
}

const encoder = new TextEncoder();

export function checkKey(operation: 'GET' | 'PUT' | 'DELETE', key: string): void {
  if (typeof key !== 'string') throw new TypeError('KV keys must be strings');
  if (key === '') throw new KVError(operation, 400, 'Key names must not be empty');
  if (key === '.' || key === '..') throw new KVError(operation, 400, `Illegal key name "${key}". Please use a different name.`);
  // A UTF-16 code unit is at most 3 UTF-8 bytes: a key this short fits without being encoded to
  // be measured (every token record's key, read on every MCP message, is one).
  if (key.length * 3 <= MAX_KEY_BYTES) return;
  const bytes = utf8Length(key);
  if (bytes > MAX_KEY_BYTES)
    throw new KVError(operation, 414, `UTF-8 encoded length of ${bytes} exceeds key length limit of ${MAX_KEY_BYTES}.`);
}

/** What a store writes for one `put`: absolute expiry in Unix seconds, metadata as JSON text. */
export interface PreparedPut {
  expiration: number | null;
  metadata: string | null;
}

export function preparePut(key: string, value: string, options: KVPutOptions | undefined, nowMs: number): PreparedPut {
  checkKey('PUT', key);
  if (typeof value !== 'string') throw new TypeError('This store keeps string values only');
  // A UTF-8 byte is at most three per UTF-16 unit, so short strings skip the encode.
  if (value.length * 3 > MAX_VALUE_BYTES) {
    const bytes = utf8Length(value);
    if (bytes > MAX_VALUE_BYTES) throw new KVError('PUT', 413, `Value length of ${bytes} exceeds limit of ${MAX_VALUE_BYTES}.`);
  }
  return { expiration: expirationFrom(options, toSeconds(nowMs)), metadata: metadataFrom(options?.metadata) };
}

/**
 * Workers KV (as its simulator, miniflare, implements it) lets `expirationTtl` win when both are
 * given, and wants either to land at least 60 seconds in the future.
 */
function expirationFrom(options: KVPutOptions | undefined, nowSeconds: number): number | null {
  const ttl = options?.expirationTtl;
  if (ttl !== undefined && ttl !== null) {
    const seconds = Math.trunc(Number(ttl));
    if (!(seconds > 0)) throw new KVError('PUT', 400, `Invalid expiration_ttl of ${ttl}. Please specify integer greater than 0.`);
    if (seconds < MIN_EXPIRATION_TTL)
      throw new KVError('PUT', 400, `Invalid expiration_ttl of ${ttl}. Expiration TTL must be at least ${MIN_EXPIRATION_TTL}.`);
    return nowSeconds + seconds;
  }
  const at = options?.expiration;
  if (at !== undefined && at !== null) {
    const seconds = Math.trunc(Number(at));
    if (!(seconds > nowSeconds)) {
      throw new KVError(
        'PUT',
        400,
        `Invalid expiration of ${at}. Please specify integer greater than the current number of seconds since the UNIX epoch.`,
      );
    }
    if (seconds < nowSeconds + MIN_EXPIRATION_TTL) {
      throw new KVError(
        'PUT',
        400,
        `Invalid expiration of ${at}. Expiration times must be at least ${MIN_EXPIRATION_TTL} seconds in the future.`,
      );
    }
    return seconds;
  }
  return null;
}

/** Metadata is kept serialized, as Workers KV does: a caller mutating its object later changes nothing. */
function metadataFrom(metadata: unknown): string | null {
  if (metadata === undefined || metadata === null) return null;
  const json = JSON.stringify(metadata);
  if (json === undefined) return null;
  const bytes = utf8Length(json);
  if (bytes > MAX_METADATA_BYTES) throw new KVError('PUT', 413, `Metadata length of ${bytes} exceeds limit of ${MAX_METADATA_BYTES}.`);
  return json;
}

/** `get`'s type argument: text or JSON; anything else Workers supports (arrayBuffer, stream) is refused loudly. */
export function readsJson(type: KVGetType | undefined): boolean {
  const named = typeof type === 'object' && type !== null ? type.type : type;
  if (named !== undefined && named !== 'text' && named !== 'json') {
    throw new TypeError(`Unsupported KV get type ${JSON.stringify(named)}: this store returns "text" or "json"`);
  }
  return wantsJson(type);
}

export function decodeValue(value: string, json: boolean): unknown {
  return json ? JSON.parse(value) : value;
}

export function listLimit(limit: number | undefined): number {
  if (limit === undefined || limit === null) return MAX_LIST_LIMIT;
  const count = Math.trunc(Number(limit));
  if (!(count >= 1)) throw new KVError('LIST', 400, `Invalid key_count_limit of ${limit}. Please specify an integer greater than 0.`);
  if (count > MAX_LIST_LIMIT)
    throw new KVError('LIST', 400, `Invalid key_count_limit of ${limit}. Please specify an integer of at most ${MAX_LIST_LIMIT}.`);
  return count;
}

/**
 * Cursors are the last key returned, base64url-encoded: opaque to callers, and stable when keys are
 * added or deleted between pages (the next page simply starts after that key).
 */
export function encodeCursor(key: string): string {
  return base64url(encoder.encode(key));
}

export function decodeCursor(cursor: string): string {
  try {
    const binary = atob(cursor.replaceAll('-', '+').replaceAll('_', '/'));
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(Uint8Array.from(binary, (char) => char.charCodeAt(0)));
  } catch {
    throw new KVError('LIST', 400, 'Invalid cursor');
  }
}

/**
 * The smallest string greater than every string that starts with `prefix`, or undefined when there
 * is none (empty prefix, or only U+10FFFF). Lets a store list a prefix as a key range, which uses
 * the index and, unlike LIKE or GLOB, gives `%`, `_`, `*` and `\` in keys no special meaning.
 */
export function prefixEnd(prefix: string): string | undefined {
  const codePoints = Array.from(prefix);
  while (codePoints.length > 0) {
    const last = codePoints.pop()!.codePointAt(0)!;
    if (last < 0x10ffff) {
      // U+D800–DFFF are not characters; the next one after U+D7FF is U+E000.
      return codePoints.join('') + String.fromCodePoint(last === 0xd7ff ? 0xe000 : last + 1);
    }
  }
  return undefined;
}

/**
 * Orders keys by their UTF-8 bytes, as Workers KV, SQLite and Redis do. Plain `<` compares UTF-16
 * units, which puts characters above U+FFFF (emoji) before U+E000–U+FFFF; this corrects that.
 */
export function compareKeys(a: string, b: string): number {
  const shorter = Math.min(a.length, b.length);
  for (let i = 0; i < shorter; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return utf8Rank(x) - utf8Rank(y);
  }
  return a.length - b.length;
}

function utf8Rank(unit: number): number {
  if (unit < 0xd800) return unit;
  return unit < 0xe000 ? unit + 0x2000 : unit - 0x800;
}

export function toSeconds(ms: number): number {
  return Math.floor(ms / 1000);
}

/** An entry whose expiry (Unix seconds) is now or earlier reads as absent. */
export function isExpired(expiration: number | null, nowSeconds: number): boolean {
  return expiration !== null && expiration <= nowSeconds;
}

function utf8Length(text: string): number {
  return encoder.encode(text).length;
}
