import ipaddr from 'ipaddr.js';
import type { RateLimit } from '../config.ts';
import { hmacHex } from '../crypto.ts';
import { countRateLimited } from '../metrics.ts';
import type { WayOut } from '../pages/error.ts';
import type { Platform } from '../platform.ts';
import { jsonError, jsonRpcError, pageError } from './errors.ts';

/**
 * Fixed-window rate limits on the shared counter store, so they hold across every replica.
 * Identities (client addresses, slugs) are stored only as keyed hashes.
 * Returns null when the request may proceed, or the refusal, which answers in the caller's shape.
 */
export async function rateLimit(platform: Platform, bucket: string, limit: RateLimit, identity: string): Promise<Refusal | null> {
  if (limit.limit === 0) return null;
  const key = await counterKey(platform, bucket, identity);
  const { count, resetAt } = await platform.counters.increment(key, limit.windowSeconds);
  if (count <= limit.limit) return null;
  countRateLimited(bucket);
  return new Refusal(Math.max(1, Math.ceil(resetAt - Date.now() / 1000)));
}

async function counterKey(platform: Platform, bucket: string, identity: string): Promise<string> {
  return `k2o:rl:${bucket}:${(await hmacHex(platform.secret, clientIdentity(identity))).slice(0, 32)}`;
}

/**
 * A limit on mistakes rather than requests: the key-guessing limits count wrong keys only, so a
 * person who makes a few mistakes, or a team behind one address whose approvals succeed, is never
 * held up by what went right (docs/security.md, Key-guessing limits).
 */
export interface MistakeLimit {
  bucket: string;
  limit: RateLimit;
  identity: string;
  /** The end of `Too many …` when this limit is the one reached. */
  tooMany: string;
}

/**
 * The first of `limits` whose mistakes are used up, with its refusal; null when an attempt may be
 * made. It reads the counters (a peek, exact on every store: the Durable Object on Workers) and
 * counts nothing: a success leaves no trace, and only `countMistake` after a wrong key adds one.
 * Attempts in flight at once are bounded elsewhere: each consent submission spends a page of
 * RATE_LIMIT_AUTHORIZE_PAGE, each /access lookup one of the same size.
 */
export async function mistakesUsedUp(platform: Platform, limits: MistakeLimit[]): Promise<{ refusal: Refusal; tooMany: string } | null> {
  for (const limit of limits) {
    if (limit.limit.limit === 0) continue;
    const { count, resetAt } = await platform.counters.peek(
      await counterKey(platform, limit.bucket, limit.identity),
      limit.limit.windowSeconds,
    );
    if (count < limit.limit.limit) continue;
    countRateLimited(limit.bucket);
    return { refusal: new Refusal(Math.max(1, Math.ceil(resetAt - Date.now() / 1000))), tooMany: limit.tooMany };
  }
  return null;
}

/** Counts one mistake against each limit. */
export async function countMistake(platform: Platform, limits: MistakeLimit[]): Promise<void> {
  for (const limit of limits) {
    if (limit.limit.limit === 0) continue;
    await platform.counters.increment(await counterKey(platform, limit.bucket, limit.identity), limit.limit.windowSeconds);
  }
}

/** A request over its limit: every 429 is built from this, with `Retry-After` and the wait in words. */
export class Refusal {
  readonly retryAfter: number;
  constructor(retryAfter: number) {
    this.retryAfter = retryAfter;
  }

  headers(base?: HeadersInit): Headers {
    const headers = new Headers(base);
    headers.set('retry-after', String(this.retryAfter));
    return headers;
  }

  /** `Too many X; try again in N seconds.` */
  sentence(tooMany: string): string {
    return `Too many ${tooMany}; try again in ${this.retryAfter} seconds.`;
  }

  json(tooMany: string): Response {
    return jsonError(429, 'rate_limited', this.sentence(tooMany), this.headers());
  }

  /** For MCP routes: a JSON-RPC error every MCP client can show. */
  jsonRpc(tooMany: string): Response {
    return jsonRpcError(429, this.sentence(tooMany), -32000, this.headers());
  }

  /** `back`: the page the person was on, to try again from once the wait is over (the start page if none). */
  page(tooMany: string, back?: WayOut): Promise<Response> {
    return pageError(429, 'Too many attempts', this.sentence(tooMany), undefined, this.headers(), back && [back]);
  }
}

/**
 * Who a limit counts. One subscriber gets a whole IPv6 /64 (2^64 addresses), so an IPv6 client is
 * its /64; an IPv4-mapped IPv6 address is its IPv4 address. Anything else (IPv4, a slug) as given.
 */
export function clientIdentity(identity: string): string {
  // Every IPv6 address has a colon; the common IPv4 case skips the parser (this runs on every MCP request).
  if (!identity.includes(':') || !ipaddr.IPv6.isValid(identity)) return identity;
  const address = ipaddr.IPv6.parse(identity);
  if (address.isIPv4MappedAddress()) return address.toIPv4Address().toString();
  return `${address.parts
    .slice(0, 4)
    .map((part) => part.toString(16))
    .join(':')}::/64`;
}
