import cluster from 'node:cluster';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { createAdaptorServer } from '@hono/node-server';
import { getConnInfo } from '@hono/node-server/conninfo';
import type { Context } from 'hono';
import { createApp } from '../../app.ts';
import { ConfigError, type Env, parseConfig, parseServerConfig, type ServerConfig } from '../../config.ts';
import { createLogger } from '../../log.ts';
import type { Platform } from '../../platform.ts';
import { runPrimary, workerCount } from './cluster.ts';
import { createUpstreamGuard } from './guarded-fetch.ts';
import { loadOrCreateSecret } from './secrets.ts';
import { createSqliteStorage } from './sqlite.ts';

/** How long in-flight requests get to finish on SIGTERM before open streams are cut. */
const SHUTDOWN_GRACE_MS = 10_000;

export async function startFromEnvironment(env: Env): Promise<void> {
  let server: ServerConfig;
  let platform: Platform;
  let closeResources: () => Promise<void>;
  try {
    server = parseServerConfig(env);
    const config = parseConfig(env, { publicUrl: `http://localhost:${server.port}` });
    const dataDir = resolve(server.dataDir);
    const secret = config.secret ?? loadOrCreateSecret(dataDir);
    const workers = workerCount(server.workers);
    if (workers > 1 && cluster.isPrimary) {
      // Settings were checked and the secret file exists before any worker starts; the workers serve.
      console.log(JSON.stringify({ time: new Date().toISOString(), level: 'info', msg: 'starting workers', workers }));
      runPrimary(workers);
      return;
    }
    const storage = createSqliteStorage(join(dataDir, 'key2oauth.db'));
    const guard = createUpstreamGuard({
      allowPrivate: config.allowPrivateUpstreams,
      allowlist: config.upstreamAllowlist,
      connectTimeoutMs: config.upstreamConnectTimeoutMs,
      // The proxy's own first-byte timer answers 504 at UPSTREAM_FIRST_BYTE_TIMEOUT_MS; undici's
      // header timeout (300 s by default) must never fire before it.
      headersTimeoutMs: config.upstreamFirstByteTimeoutMs + 5_000,
    });
    closeResources = async () => {
      await guard.close();
      await storage.close();
    };
    const { trustProxy } = server;
    const pending = new Set<Promise<unknown>>();
    platform = {
      config,
      kv: storage.kv,
      counters: storage.counters,
      fetchUpstream: guard.fetch,
      checkUpstreamHost: guard.checkHostResolves,
      secret,
      log: createLogger(config.logLevel),
      clientAddress: (c) => clientAddress(c, trustProxy),
      waitUntil: (promise) => {
        const tracked = promise.catch(() => {}).finally(() => pending.delete(tracked));
        pending.add(tracked);
      },
    };
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(`key2oauth: ${error.message}`);
      process.exit(1);
    }
    throw error;
  }

  const app = createApp(platform);
  const listener = createAdaptorServer({ fetch: app.fetch });
  // In a cluster (WORKERS > 1) each worker opens its own socket on the port (SO_REUSEPORT, as
  // nginx's `reuseport`), so the kernel spreads connections evenly and no process relays them.
  const shared = cluster.isWorker ? { exclusive: true, reusePort: true } : {};
  listener.listen({ port: server.port, host: server.host, ...shared }, () => {
    const info = listener.address() as AddressInfo;
    platform.log.info('listening', { address: `${info.address}:${info.port}`, public_url: platform.config.publicUrl });
  });
  listener.on('error', (error) => {
    platform.log.error('server failed to start', { error });
    process.exit(1);
  });

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    platform.log.info('shutting down', { signal });
    const force = setTimeout(() => {
      // Streams (SSE) never end by themselves; after the grace period they are cut.
      if ('closeAllConnections' in listener) listener.closeAllConnections();
    }, SHUTDOWN_GRACE_MS);
    force.unref();
    listener.close(async () => {
      clearTimeout(force);
      await closeResources();
      platform.log.info('stopped');
      process.exit(0);
    });
    if ('closeIdleConnections' in listener) listener.closeIdleConnections();
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

/** The socket's peer, or, behind a proxy we were told to trust, the address it appended. */
function clientAddress(c: Context, trustProxy: boolean): string {
  if (trustProxy) {
    const forwarded = c.req
      .header('x-forwarded-for')
      ?.split(',')
      .map((part) => part.trim())
      .filter(Boolean);
    const last = forwarded?.at(-1);
    if (last) return last;
  }
  return getConnInfo(c).remote.address ?? 'unknown';
}
