import type { Config } from '../config.ts';
import { clientIdentity, Refusal } from '../http/rate-limit.ts';

/**
 * Bounds on concurrent proxied MCP requests (streams and POSTs alike: each holds a client
 * connection and an upstream connection for as long as its body is open): per grant, so one
 * token cannot open streams without end, and per client address (an IPv6 client by its /64), so
 * one stranger with many endpoints and grants cannot either.
 *
 * The counts live in memory, in the process on Node (exact: one process serves every request) and
 * in the isolate on Workers, where they are per isolate rather than global: Cloudflare spreads
 * requests over many isolates, so a Worker's limit bounds what one isolate holds (its memory and
 * its outbound connections), not a deployment-wide total. A Durable Object per grant would make it
 * exact at the price of a round trip on every MCP request, the hot path; Cloudflare already bounds
 * each request's own resources, and the stranger's budget on Workers is Cloudflare's capacity, not
 * ours. Counts are released when the response body ends, fails or is cancelled (the client left).
 */
export interface StreamLimits {
  /** A lease to hold while the response is open, or the refusal (429 with Retry-After). */
  open(grantId: string, address: string): { release(): void } | Refusal;
  /** Currently open, for tests and metrics. */
  openCount(): number;
}

/** What a refused client is told to wait: streams end at their own pace, so a short, fixed wait. */
const RETRY_AFTER_SECONDS = 5;

export function createStreamLimits(config: Pick<Config, 'maxStreamsPerGrant' | 'maxStreamsPerAddress'>): StreamLimits {
  // One map per kind, keyed by the grant id and the address themselves: no key string built per request.
  const byGrant = new Map<string, number>();
  const byAddress = new Map<string, number>();
  let total = 0;
  const bump = (counts: Map<string, number>, key: string, by: number) => {
    const next = (counts.get(key) ?? 0) + by;
    if (next <= 0) counts.delete(key);
    else counts.set(key, next);
  };
  return {
    open(grantId, address) {
      const identity = clientIdentity(address);
      const overGrant = config.maxStreamsPerGrant > 0 && (byGrant.get(grantId) ?? 0) >= config.maxStreamsPerGrant;
      const overAddress = config.maxStreamsPerAddress > 0 && (byAddress.get(identity) ?? 0) >= config.maxStreamsPerAddress;
      if (overGrant || overAddress) return new Refusal(RETRY_AFTER_SECONDS);
      bump(byGrant, grantId, 1);
      bump(byAddress, identity, 1);
      total++;
      let released = false;
      return {
        release() {
          if (released) return;
          released = true;
          bump(byGrant, grantId, -1);
          bump(byAddress, identity, -1);
          total--;
        },
      };
    },
    openCount: () => total,
  };
}
