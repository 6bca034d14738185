import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { getRequestListener } from '@hono/node-server';
import { getConnInfo } from '@hono/node-server/conninfo';
import type { Context } from 'hono';
import { createApp } from '../../app.ts';
import { ConfigError, type Env, parseConfig, parseServerConfig, type ServerConfig } from '../../config.ts';
import { jsonError } from '../../http/errors.ts';
import { createLogger, type Logger } from '../../log.ts';
import type { Platform } from '../../platform.ts';
import { automaticConnectionCap, capConnections } from './connection-cap.ts';
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
  const log = platform.log;
  routeConsoleThroughLogger(log);
  // @hono/node-server's request listener on a server we configure: its own `serve` passes no
  // timeouts, no header limit and no error handler.
  const listener = createServer(
    {
      headersTimeout: server.headersTimeoutMs,
      requestTimeout: server.requestTimeoutMs,
      // Checks the two timeouts above this often (Node's default is 30 s, too coarse for 10 s).
      connectionsCheckingInterval: Math.min(1000, server.headersTimeoutMs),
    },
    getRequestListener(app.fetch, {
      hostname: server.host,
      errorHandler: (error) => {
        log.error('request failed', { error });
        return jsonError(500, 'server_error', 'Something went wrong on our side');
      },
    }),
  );
  listener.maxHeadersCount = server.maxHeadersCount;
  const maxConnections = server.maxConnections ?? automaticConnectionCap();
  capConnections(listener, maxConnections, log);
  listener.listen(server.port, server.host, () => {
    const info = listener.address() as AddressInfo;
    log.info('listening', {
      address: `${info.address}:${info.port}`,
      public_url: platform.config.publicUrl,
      max_connections: maxConnections,
    });
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

/**
 * @hono/node-server reports errors it meets while writing a response with `console.error` (and a
 * client that left with `console.info`), bypassing our redaction: once the logger exists, the
 * console goes through it.
 */
function routeConsoleThroughLogger(log: Logger): void {
  const fields = (args: unknown[]) => ({ detail: args.map((arg) => (arg instanceof Error ? arg : String(arg))) });
  console.error = (...args: unknown[]) => log.error('server error', fields(args));
  console.warn = (...args: unknown[]) => log.warn('server warning', fields(args));
  console.info = (...args: unknown[]) => log.debug('server notice', fields(args));
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
