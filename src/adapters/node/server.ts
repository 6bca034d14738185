import cluster from 'node:cluster';
import { createServer, type RequestListener } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { getRequestListener, type HttpBindings } from '@hono/node-server';
import { createApp } from '../../app.ts';
import { ConfigError, type Env, parseConfig, parseServerConfig } from '../../config.ts';
import { answers } from '../../http/errors.ts';
import type { Logger } from '../../log.ts';
import { createStreamLimits } from '../../mcp/stream-limits.ts';
import { runPrimary, workerCount } from './cluster.ts';
import { automaticConnectionCap, capConnections } from './connection-cap.ts';
import { withFastPath } from './fast-path.ts';
import { createNodePlatform, type NodePlatform, StorageStartError } from './platform.ts';
import { loadOrCreateSecret } from './secrets.ts';

/** How long in-flight requests get to finish on SIGTERM before open streams are cut. */
const SHUTDOWN_GRACE_MS = 10_000;

export async function startFromEnvironment(env: Env): Promise<void> {
  let built: NodePlatform;
  try {
    const settings = parseServerConfig(env);
    const workers = workerCount(settings.workers);
    if (workers > 1 && cluster.isPrimary) {
      // Settings are checked (and, on SQLite, the secret file exists) before any worker starts; the workers serve.
      const config = parseConfig(env, { publicUrl: `http://localhost:${settings.port}` });
      if (!config.secret && !settings.redisUrl) loadOrCreateSecret(resolve(settings.dataDir));
      console.log(JSON.stringify({ time: new Date().toISOString(), level: 'info', msg: 'starting workers', workers }));
      runPrimary(workers);
      return;
    }
    built = await createNodePlatform(env);
  } catch (error) {
    if (error instanceof ConfigError || error instanceof StorageStartError) {
      console.error(`key2oauth: ${error.message}`);
      process.exit(1);
    }
    throw error;
  }
  const { platform, server } = built;
  const closeResources = () => built.close();

  const log = platform.log;
  routeConsoleThroughLogger(log);
  const listener = createServer(
    {
      headersTimeout: server.headersTimeoutMs,
      requestTimeout: server.requestTimeoutMs,
      // Checks the two timeouts above this often (Node's default is 30 s, too coarse for 10 s).
      connectionsCheckingInterval: Math.min(1000, server.headersTimeoutMs),
    },
    nodeRequestListener(built),
  );
  listener.maxHeadersCount = server.maxHeadersCount;
  const maxConnections = server.maxConnections ?? automaticConnectionCap();
  capConnections(listener, maxConnections, log);
  // In a cluster (WORKERS > 1) each worker opens its own socket on the port (SO_REUSEPORT, as
  // nginx's `reuseport`), so the kernel spreads connections evenly and no process relays them.
  const shared = cluster.isWorker ? { exclusive: true, reusePort: true } : {};
  listener.listen({ port: server.port, host: server.host, ...shared }, () => {
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
 * What the server does with each request: proxied MCP messages with a valid token go through the
 * Node carrier (fast-path.ts), every other request through the app. `fastPath: false` serves
 * everything through the app, as the Worker does: the tests hold the two carriers to one
 * behaviour by running the same cases against both.
 */
export function nodeRequestListener(built: NodePlatform, options: { fastPath?: boolean } = {}): RequestListener {
  const { platform, server } = built;
  // The app and the fast path count open streams together, so the limits hold across both.
  const streams = createStreamLimits(platform.config);
  const app = createApp(platform, { streams, socketAddress: (env) => (env as HttpBindings).incoming.socket.remoteAddress });
  // @hono/node-server's request listener on a server we configure: its own `serve` passes no
  // timeouts, no header limit and no error handler.
  const appListener = getRequestListener(app.fetch, {
    hostname: server.host,
    errorHandler: (error) => {
      platform.log.error('request failed', { error });
      return answers.serverError();
    },
  });
  if (options.fastPath === false) return appListener;
  return withFastPath({ platform, streams, upstreamDispatch: built.upstreamDispatch }, appListener);
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
