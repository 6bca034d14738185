import type { Platform } from '../platform.ts';
import { isStorageUnavailable } from '../storage/unavailable.ts';
import { storageUnavailable } from './errors.ts';

/**
 * GET /readyz: readiness, as load balancers and orchestrators mean it. `200` while the store answers
 * a read, `503` with `Retry-After` while it cannot (Redis down or still loading its file, KV failing),
 * so a balancer sends requests to the replicas that can serve them. `/healthz` stays liveness and
 * never touches the store: restarting a process does not bring Redis back.
 *
 * The probe reads one key nothing writes, so it costs one read and changes nothing. A store that
 * hangs counts as unreachable after PROBE_TIMEOUT_MS, shorter than any usual probe interval.
 */
export const READINESS_PATH = '/readyz';
const PROBE_KEY = 'readiness-probe';
const PROBE_TIMEOUT_MS = 3000;

export async function readiness(platform: Platform): Promise<Response> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), PROBE_TIMEOUT_MS);
  });
  try {
    const outcome = await Promise.race([platform.kv.get(PROBE_KEY).then(() => 'ok' as const), timedOut]);
    if (outcome === 'timeout') {
      platform.log.warn('not ready', { error: `the store did not answer within ${PROBE_TIMEOUT_MS} ms` });
      return storageUnavailable(5);
    }
    const response = Response.json({ ok: true, storage: 'reachable' });
    response.headers.set('cache-control', 'no-store');
    return response;
  } catch (error) {
    // An outage is expected and already worded by the store; anything else is a store that is
    // broken in a way worth reading about, and the replica is no more ready for it.
    if (isStorageUnavailable(error)) {
      platform.log.warn('not ready', { error: error.message });
      return storageUnavailable(error.retryAfter);
    }
    platform.log.error('not ready: the store failed a read', { error });
    return storageUnavailable(5);
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}
