import { join, resolve } from 'node:path';
import { getConnInfo } from '@hono/node-server/conninfo';
import type { Context } from 'hono';
import { type Env, parseConfig, parseServerConfig, type ServerConfig } from '../../config.ts';
import { createLogger, type Logger } from '../../log.ts';
import type { Platform } from '../../platform.ts';
import { createUpstreamGuard } from './guarded-fetch.ts';
import { loadOrCreateSecret } from './secrets.ts';
import { createSqliteStorage } from './sqlite.ts';

export interface NodePlatform {
  platform: Platform;
  server: ServerConfig;
  /** Waits for work handed to waitUntil, then closes the upstream connections and the database. */
  close(): Promise<void>;
}

/**
 * The self-hosted Platform from the environment: the SQLite store in DATA_DIR, the deployment
 * secret, the guarded upstream fetch. The server and the operator commands of the CLI build it
 * here, so both work on the same store by the same rules. Throws ConfigError for a bad setting.
 */
export function createNodePlatform(env: Env, options: { log?: Logger } = {}): NodePlatform {
  const server = parseServerConfig(env);
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
  const { trustProxy } = server;
  const pending = new Set<Promise<unknown>>();
  const platform: Platform = {
    config,
    kv: storage.kv,
    counters: storage.counters,
    fetchUpstream: guard.fetch,
    checkUpstreamHost: guard.checkHostResolves,
    secret,
    log: options.log ?? createLogger(config.logLevel),
    clientAddress: (c) => clientAddress(c, trustProxy),
    waitUntil: (promise) => {
      const tracked = promise.catch(() => {}).finally(() => pending.delete(tracked));
      pending.add(tracked);
    },
    processMetrics: true,
  };
  return {
    platform,
    server,
    async close() {
      while (pending.size) await Promise.all(pending);
      await guard.close();
      await storage.close();
    },
  };
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
