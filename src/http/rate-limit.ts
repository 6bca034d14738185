import ipaddr from 'ipaddr.js';
import type { RateLimit } from '../config.ts';
import type { Platform } from '../platform.ts';
import { hmacHex } from '../crypto.ts';

/**
 * Fixed-window rate limits on the shared counter store, so they hold across every replica.
 * Identities (client addresses, slugs) are stored only as keyed hashes.
 * Returns the seconds to wait when the limit is exceeded, or null when the request may proceed.
 */
export async function rateLimit(platform: Platform, bucket: string, limit: RateLimit, identity: string): Promise<number | null> {
  if (limit.limit === 0) return null;
  const key = `k2o:rl:${bucket}:${(await hmacHex(platform.secret, clientIdentity(identity))).slice(0, 32)}`;
  const { count, resetAt } = await platform.counters.increment(key, limit.windowSeconds);
  if (count <= limit.limit) return null;
  return Math.max(1, Math.ceil(resetAt - Date.now() / 1000));
}

/**
 * Who a limit counts. One subscriber gets a whole IPv6 /64 (2^64 addresses), so an IPv6 client is
 * its /64; an IPv4-mapped IPv6 address is its IPv4 address. Anything else (IPv4, a slug) as given.
 */
export function clientIdentity(identity: string): string {
  if (!ipaddr.IPv6.isValid(identity)) return identity;
  const address = ipaddr.IPv6.parse(identity);
  if (address.isIPv4MappedAddress()) return address.toIPv4Address().toString();
  return `${address.parts.slice(0, 4).map((part) => part.toString(16)).join(':')}::/64`;
}
