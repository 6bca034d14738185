/**
 * Stand-in for the `cloudflare:workers` module on Node. The OAuth engine imports it only to test
 * `handler.prototype instanceof WorkerEntrypoint`; we always pass plain `{ fetch }` handlers.
 */
export class WorkerEntrypoint {
  ctx: unknown;
  env: unknown;
  constructor(ctx: unknown, env: unknown) {
    this.ctx = ctx;
    this.env = env;
  }
}
