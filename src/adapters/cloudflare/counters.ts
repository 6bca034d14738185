import { DurableObject } from 'cloudflare:workers';
import type { CounterStore } from '../../storage/contract.ts';
import { windowEnd } from '../../storage/rules.ts';

/**
 * Rate-limit counters on Workers: one small SQLite-backed Durable Object per bucket
 * (`k2o:rl:{bucket}:{keyed hash of the client address}`).
 *
 * Why not KV: a counter is a read-modify-write, and KV has neither atomic increments nor
 * read-your-writes across locations (and allows one write per second per key), so concurrent
 * attempts would be lost and a limit could be exceeded many times over. Why not the Workers
 * rate-limiting binding: its limit and period (10 or 60 seconds only) are fixed in wrangler.jsonc
 * and it counts per Cloudflare location, so `RATE_LIMIT_CREATE=20/3600` could not mean what it
 * means on Node. A Durable Object is single-threaded and strongly consistent, so each increment
 * is exact, with the same fixed, epoch-aligned windows as the SQLite and memory stores.
 * Only endpoint creation, client registration and key submissions are counted: the MCP data path
 * never touches it.
 */
export class Counters extends DurableObject {
  async increment(windowSeconds: number): Promise<{ count: number; resetAt: number }> {
    const resetAt = windowEnd(Date.now(), windowSeconds);
    const current = await this.ctx.storage.get<{ count: number; resetAt: number }>('window');
    // Same rule as the SQL and memory stores: a stored window that is not older than ours keeps counting.
    const next = current && current.resetAt >= resetAt ? { count: current.count + 1, resetAt: current.resetAt } : { count: 1, resetAt };
    await this.ctx.storage.put('window', next);
    // Nothing outlives its window: the alarm clears this object's storage when the window ends.
    await this.ctx.storage.setAlarm(next.resetAt * 1000);
    return next;
  }

  /**
   * The deployment secret when no `KEY2OAUTH_SECRET` Worker secret is set: generated once, on
   * the one object named for it, so every isolate everywhere gets the same value (a KV
   * read-then-write could race and leave two). The twin of Node's `DATA_DIR/secret.key`.
   */
  async deploymentSecret(): Promise<string> {
    const existing = await this.ctx.storage.get<string>('secret');
    if (existing) return existing;
    const bytes = crypto.getRandomValues(new Uint8Array(32));
    const secret = btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
    await this.ctx.storage.put('secret', secret);
    return secret;
  }

  override async alarm(): Promise<void> {
    await this.ctx.storage.deleteAll();
  }
}

export function durableCounters(namespace: DurableObjectNamespace<Counters>): CounterStore {
  return {
    increment: (key, windowSeconds) => namespace.get(namespace.idFromName(key)).increment(windowSeconds),
  };
}

export const SECRET_OBJECT_NAME = 'k2o:deployment-secret';
