import { startServer } from './server-process.ts';
import { startWorker } from './worker-process.ts';

/**
 * The platforms the shared end-to-end suites run against. Each suite loops over `targets()` and
 * registers its tests once per platform, so Node and Workers are held to the same behaviour.
 */
export interface Target {
  name: string;
  /**
   * What this target can be tested for. A suite registers a test that needs a capability only for
   * targets that have it (never register-and-skip), and says why where it does.
   */
  capabilities: Capabilities;
  start(env?: Record<string, string>): Promise<Running>;
}

export interface Capabilities {
  /**
   * The server notices a client that disconnects while the response is idle (no bytes being
   * written), so the upstream request ends at once. False for workerd run locally: its HTTP
   * listener only learns of a disconnect when a write to the client fails (see workerTarget).
   */
  clientDisconnect: boolean;
  /** UPSTREAM_CONNECT_TIMEOUT_MS is honoured (Node only: a Worker's fetch has no connect timeout). */
  connectTimeout: boolean;
}

export interface Running {
  /** The public origin (PUBLIC_URL) of the running server. */
  url: string;
  /** Everything the server printed so far. */
  output(): string;
  stop(): Promise<unknown>;
}

export const nodeTarget: Target = {
  name: 'node',
  capabilities: { clientDisconnect: true, connectTimeout: true },
  start: (env) => startServer(env),
};

/**
 * The Worker under `wrangler dev` (workerd, local KV and Durable Objects); env entries become Worker vars.
 *
 * clientDisconnect: false. Proven by experiment (a throwaway worker returning
 * `new Response(upstream.body)` from a fetch given `request.signal`, run under `wrangler dev` and
 * under a bare `workerd serve` with no wrangler or miniflare in front, workerd 2026-11-17 with
 * enable_request_signal on by default): when the client goes away while the upstream is silent,
 * workerd notices nothing, `request.signal` never fires and the upstream connection stays open
 * indefinitely. As soon as the upstream sends anything, the write to the gone client fails and
 * workerd cancels the response body and with it the upstream fetch (within ~100 ms bare, ~400 ms
 * through wrangler's proxy). So the loss is in workerd's local HTTP listener, not in our code nor
 * in wrangler's proxy layer; the tests that wait for a silent stream's upstream to close cannot
 * pass here. (On Cloudflare, clients reach the Worker through the edge, which cannot be run here.)
 *
 * connectTimeout: false. A Worker's fetch has no connect-timeout setting; UPSTREAM_FIRST_BYTE_TIMEOUT_MS
 * (which runs from before the connect) bounds the wait instead, tested on every target.
 */
export const workerTarget: Target = {
  name: 'workers',
  capabilities: { clientDisconnect: false, connectTimeout: false },
  start: (env) => startWorker(env),
};

export function targets(): Target[] {
  return [nodeTarget, workerTarget];
}
