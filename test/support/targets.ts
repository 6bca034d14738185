import { startServer } from './server-process.ts';
import { startWorker } from './worker-process.ts';

/**
 * The platforms the shared end-to-end suites run against. Each suite loops over `targets()` and
 * registers its tests once per platform, so Node and Workers are held to the same behaviour.
 */
export interface Target {
  name: string;
  start(env?: Record<string, string>): Promise<Running>;
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
  start: (env) => startServer(env),
};

/** The Worker under `wrangler dev` (workerd, local KV and Durable Objects); env entries become Worker vars. */
export const workerTarget: Target = {
  name: 'workers',
  start: (env) => startWorker(env),
};

export function targets(): Target[] {
  return [nodeTarget, workerTarget];
}
