import { DurableObject } from 'cloudflare:workers';
import { randomToken } from '../../crypto.ts';
import type { CounterStore } from '../../storage/contract.ts';
import { countOne, currentWindow, type Window, windowEnd } from '../../storage/fixed-window.ts';

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
 * Every bucket that `http/rate-limit.ts` counts lands here (creation, registration, the
 * authorization page, key submissions per address and per endpoint, the manage API); the MCP data
 * path never touches it.
 */
export class Counters extends DurableObject {
  async increment(windowSeconds: number): Promise<{ count: number; resetAt: number }> {
    const resetAt = windowEnd(Date.now(), windowSeconds);
    const next = countOne(await this.ctx.storage.get<Window>('window'), resetAt);
    await this.ctx.storage.put('window', next);
    // Nothing outlives its window: the alarm clears this object's storage when the window ends.
    await this.ctx.storage.setAlarm(next.resetAt * 1000);
    return next;
  }

  async peek(windowSeconds: number): Promise<{ count: number; resetAt: number }> {
    return currentWindow(await this.ctx.storage.get<Window>('window'), windowEnd(Date.now(), windowSeconds));
  }

  /**
   * The deployment secret when no `KEY2OAUTH_SECRET` Worker secret is set: generated once, on
   * the one object named for it, so every isolate everywhere gets the same value (a KV
   * read-then-write could race and leave two). The twin of Node's `DATA_DIR/secret.key`.
   */
  async deploymentSecret(): Promise<string> {
    const existing = await this.ctx.storage.get<string>('secret');
    if (existing) return existing;
    const secret = randomToken(32);
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
    peek: (key, windowSeconds) => namespace.get(namespace.idFromName(key)).peek(windowSeconds),
  };
}

export const SECRET_OBJECT_NAME = 'k2o:deployment-secret';
