import { startServer } from './server-process.ts';

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

export function targets(): Target[] {
  return [nodeTarget];
}
