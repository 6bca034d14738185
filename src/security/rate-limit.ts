import type { RateLimit } from '../config.ts';
import type { Platform } from '../platform/platform.ts';
import { hmacHex } from './tokens.ts';

/**
 * Fixed-window rate limits on the shared counter store, so they hold across every replica.
 * Identities (client addresses, slugs) are stored only as keyed hashes.
 * Returns the seconds to wait when the limit is exceeded, or null when the request may proceed.
 */
export async function rateLimit(platform: Platform, bucket: string, limit: RateLimit, identity: string): Promise<number | null> {
  if (limit.limit === 0) return null;
  const key = `k2o:rl:${bucket}:${(await hmacHex(platform.secret, identity)).slice(0, 32)}`;
  const { count, resetAt } = await platform.counters.increment(key, limit.windowSeconds);
  if (count <= limit.limit) return null;
  return Math.max(1, Math.ceil(resetAt - Date.now() / 1000));
}
