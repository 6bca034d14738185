import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { createApp } from '../../app.ts';
import { ConfigError, type Env } from '../../config.ts';
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
  const listener = serve({ fetch: app.fetch, port: server.port, hostname: server.host }, (info: AddressInfo) => {
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
