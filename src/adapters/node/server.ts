import { serve, type HttpBindings } from '@hono/node-server';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { createApp } from '../../app.ts';
import { ConfigError, parseConfig, type Env } from '../../config.ts';
import { createLogger } from '../../log.ts';
import { createSqliteStorage } from './sqlite.ts';
import type { Platform } from '../../platform.ts';
import { createUpstreamGuard } from './guarded-fetch.ts';
import { loadOrCreateSecret } from './secrets.ts';

/** How long in-flight requests get to finish on SIGTERM before open streams are cut. */
const SHUTDOWN_GRACE_MS = 10_000;

export async function startFromEnvironment(env: Env): Promise<void> {
  let port: number;
  let platform: Platform;
  let closeResources: () => Promise<void>;
  try {
    port = parsePort(env.PORT);
    const config = parseConfig(env, { publicUrl: `http://localhost:${port}` });
    const dataDir = resolve(env.DATA_DIR || './data');
    const secret = loadOrCreateSecret(dataDir);
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
    const trustProxy = /^(1|true|yes|on)$/i.test(env.TRUST_PROXY ?? '');
    const pending = new Set<Promise<unknown>>();
    platform = {
      config,
      kv: storage.kv,
      counters: storage.counters,
      fetchUpstream: guard.fetch,
      checkUpstreamHost: guard.checkHostResolves,
      secret,
      log: createLogger(config.logLevel),
      clientAddress: (request, bindings) => clientAddress(request, bindings as HttpBindings, trustProxy),
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
  const host = env.HOST || '127.0.0.1';
  const server = serve({ fetch: app.fetch, port, hostname: host }, (info: AddressInfo) => {
    platform.log.info('listening', { address: `${info.address}:${info.port}`, public_url: platform.config.publicUrl });
  });
  server.on('error', (error) => {
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
      if ('closeAllConnections' in server) server.closeAllConnections();
    }, SHUTDOWN_GRACE_MS);
    force.unref();
    server.close(async () => {
      clearTimeout(force);
      await closeResources();
      platform.log.info('stopped');
      process.exit(0);
    });
    if ('closeIdleConnections' in server) server.closeIdleConnections();
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

function parsePort(raw: string | undefined): number {
  if (raw === undefined || raw === '') return 8787;
  const port = Number(raw);
  if (!/^\d+$/.test(raw) || port < 1 || port > 65535) throw new ConfigError(`PORT must be a number from 1 to 65535 (got ${JSON.stringify(raw)})`);
  return port;
}

/** The socket's peer, or, behind a proxy we were told to trust, the address it appended. */
function clientAddress(request: Request, bindings: HttpBindings | undefined, trustProxy: boolean): string {
  if (trustProxy) {
    const forwarded = request.headers.get('x-forwarded-for')?.split(',').map((part) => part.trim()).filter(Boolean);
    const last = forwarded?.at(-1);
    if (last) return last;
  }
  return bindings?.incoming?.socket?.remoteAddress ?? 'unknown';
}
