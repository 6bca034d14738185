import type { Platform } from '../platform.ts';
import type { KVStore } from '../storage/contract.ts';

/**
 * "Last used" for each grant, shown on the manage page. The hot path must not pay a store write per
 * MCP request, so each process (or Worker isolate) writes a grant's time at most once per
 * LAST_USED_WRITE_SECONDS (a minute by default), after the response (waitUntil), from a bounded
 * in-memory map: the shown time is accurate to about that, and costs no read at all. On Workers'
 * free plan (1,000 KV writes a day) a longer interval keeps busy grants within budget.
 */

const PREFIX = 'k2o:used:';
/** Enough grants for a busy process; past it the oldest entry goes (at worst, one extra write). */
const MAX_TRACKED = 10_000;
/**
 * When each grant's time was last written, by grant id: the engine's grant ids are random, so one
 * names one grant across endpoints, and it is the very string admission hands the stream limits,
 * whose hash V8 has then already computed (a key built per message would be hashed per message).
 */
const written = new Map<string, number>();

export function noteGrantUse(platform: Platform, slug: string, grantId: string): void {
  const every = platform.config.lastUsedWriteSeconds * 1000;
  if (every === 0) return;
  const now = Date.now();
  const last = written.get(grantId);
  if (last !== undefined && now - last < every) return;
  written.delete(grantId);
  written.set(grantId, now);
  if (written.size > MAX_TRACKED) written.delete(written.keys().next().value!);
  // Kept as long as a refresh token could still use the grant.
  const ttl = platform.config.refreshTokenTtl + 86_400;
  platform.waitUntil(platform.kv.put(`${PREFIX}${slug}:${grantId}`, String(Math.floor(now / 1000)), { expirationTtl: ttl }));
}

/** Unix seconds of the grant's last recorded use, or null when none was recorded. */
export async function grantLastUsed(kv: KVStore, slug: string, grantId: string): Promise<number | null> {
  const value = (await kv.get(`${PREFIX}${slug}:${grantId}`)) as string | null;
  return value ? Number(value) : null;
}

export async function forgetGrantUse(kv: KVStore, slug: string, grantId: string): Promise<void> {
  written.delete(grantId);
  await kv.delete(`${PREFIX}${slug}:${grantId}`);
}
