import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { getRequestListener } from '@hono/node-server';
import { createApp } from '../../app.ts';
import { ConfigError, type Env } from '../../config.ts';
import { jsonError } from '../../http/errors.ts';
import type { Logger } from '../../log.ts';
import { automaticConnectionCap, capConnections } from './connection-cap.ts';
import { createNodePlatform, type NodePlatform, StorageStartError } from './platform.ts';

/** How long in-flight requests get to finish on SIGTERM before open streams are cut. */
const SHUTDOWN_GRACE_MS = 10_000;

export async function startFromEnvironment(env: Env): Promise<void> {
  let built: NodePlatform;
  try {
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
