/**
 * The Cloudflare Worker entry: the twin of `adapters/node/server.ts`. It only builds a
 * `Platform` from the Worker's bindings, vars and secrets and hands every request to the same
 * core (`createApp`); no route or rule lives here.
 *
 * Bindings (wrangler.jsonc): `OAUTH_KV` (Workers KV: endpoints, clients, grants, tokens) and
 * `COUNTERS` (a Durable Object namespace: rate limits, and the generated deployment secret).
 * Vars: the same names as the Node server's environment (PUBLIC_URL, ALLOW_PRIVATE_UPSTREAMS, …).
 * Secret: `KEY2OAUTH_SECRET` (npm run deploy:cloudflare sets one).
 */
import { waitUntil } from 'cloudflare:workers';
import type { Hono } from 'hono';
import { createApp } from '../../app.ts';
import { ConfigError, type Env, parseConfig } from '../../config.ts';
import { createLogger } from '../../log.ts';
import type { Platform } from '../../platform.ts';
import type { KVStore } from '../../storage/contract.ts';
import { Counters, durableCounters, SECRET_OBJECT_NAME } from './counters.ts';
import { checkUpstreamHostOnWorkers, createWorkerUpstreamFetch } from './upstream-fetch.ts';

export { Counters };

export interface WorkerEnv {
  OAUTH_KV: KVNamespace;
  COUNTERS: DurableObjectNamespace<Counters>;
  KEY2OAUTH_SECRET?: string;
  [name: string]: unknown;
}

export default {
  async fetch(request: Request, env: WorkerEnv, ctx: ExecutionContext): Promise<Response> {
    let app: Hono;
    try {
      app = await appFor(request, env);
    } catch (error) {
      if (error instanceof ConfigError) {
        console.error(JSON.stringify({ time: new Date().toISOString(), level: 'error', msg: `key2oauth: ${error.message}` }));
        return Response.json(
          { error: 'server_misconfigured', message: `This deployment is misconfigured: ${error.message}` },
          { status: 500, headers: { 'cache-control': 'no-store' } },
        );
      }
      throw error;
    }
    return app.fetch(request, env, ctx);
  },
} satisfies ExportedHandler<WorkerEnv>;

/**
 * One app per isolate (and per origin when the issuer is derived from it): building the routes
 * and compiling the router costs a few hundred microseconds of CPU, which every request on the
 * MCP hot path would otherwise pay again. Nothing request-specific lives in the platform
 * (`waitUntil` from `cloudflare:workers` finds the current request itself).
 */
const apps = new WeakMap<object, Map<string, Hono>>();
const MAX_CACHED_ORIGINS = 16;

async function appFor(request: Request, env: WorkerEnv): Promise<Hono> {
  // With PUBLIC_URL set, one app serves every origin: the request's URL is parsed only to build it.
  const fixed = typeof env.PUBLIC_URL === 'string' && env.PUBLIC_URL !== '';
  const key = fixed ? '' : new URL(request.url).origin;
  let byOrigin = apps.get(env);
  if (!byOrigin) {
    byOrigin = new Map();
    apps.set(env, byOrigin);
  }
  let app = byOrigin.get(key);
  if (!app) {
    app = createApp(await workerPlatform(fixed ? new URL(request.url).origin : key, env));
    if (byOrigin.size < MAX_CACHED_ORIGINS) byOrigin.set(key, app);
  }
  return app;
}

/**
 * PUBLIC_URL, when set, is the issuer for every request. When it is not set, the origin the
 * request arrived on is used: on Cloudflare a Worker only receives requests for the hostnames
 * routed to it (its workers.dev name, its custom domains), so that origin is not attacker-chosen,
 * and each of those hostnames is a consistent issuer of its own. Tokens are bound to the origin
 * they were issued on; set PUBLIC_URL once a custom domain is the address clients should use.
 */
export async function workerPlatform(requestOrigin: string, env: WorkerEnv): Promise<Platform> {
  const vars = stringVars(env);
  const config = parseConfig(vars, { publicUrl: requestOrigin });
  // Stdio servers are processes, which a Worker cannot start: every request says so, as for any
  // misconfiguration, rather than serving endpoints that could never answer.
  if (vars.STDIO_SERVERS)
    throw new ConfigError(
      'STDIO_SERVERS is set, but Cloudflare Workers cannot run processes: stdio servers need the Node server (docs/stdio.md)',
    );
  return {
    config,
    kv: env.OAUTH_KV satisfies KVStore,
    counters: durableCounters(env.COUNTERS),
    fetchUpstream: createWorkerUpstreamFetch({ allowPrivate: config.allowPrivateUpstreams, allowlist: config.upstreamAllowlist }),
    checkUpstreamHost: checkUpstreamHostOnWorkers,
    secret: config.secret ?? (await generatedDeploymentSecret(env)),
    ...(config.secretPrevious ? { previousSecret: config.secretPrevious } : {}),
    log: createLogger(config.logLevel),
    // Cloudflare sets CF-Connecting-IP on every request and overwrites any value a client sent.
    clientAddress: (request) => request.headers.get('cf-connecting-ip') ?? 'unknown',
    waitUntil: (promise) => waitUntil(promise.catch(() => {})),
  };
}

/** The string vars and secrets (bindings are objects); parseConfig treats an empty one as unset. */
function stringVars(env: WorkerEnv): Env {
  const vars: Env = {};
  for (const [name, value] of Object.entries(env)) if (typeof value === 'string') vars[name] = value;
  return vars;
}

let generatedSecret: Promise<string> | undefined;

/**
 * Without a Worker secret (a Deploy-button install, wrangler dev): one generated secret for the
 * whole deployment, fetched once per isolate.
 */
async function generatedDeploymentSecret(env: WorkerEnv): Promise<string> {
  generatedSecret ??= env.COUNTERS.get(env.COUNTERS.idFromName(SECRET_OBJECT_NAME))
    .deploymentSecret()
    .catch((error: unknown) => {
      generatedSecret = undefined;
      throw error;
    });
  return generatedSecret;
}
