import { hash } from 'node:crypto';
import { join, resolve } from 'node:path';
import { flushActivity } from '../../activity/store.ts';
import { type Env, parseConfig, parseServerConfig, type ServerConfig, secretProblem } from '../../config.ts';
import { randomToken } from '../../crypto.ts';
import { createLogger, type Logger } from '../../log.ts';
import type { Platform } from '../../platform.ts';
import type { Storage } from '../../storage/contract.ts';
import { createUpstreamGuard, type UpstreamDispatch } from './guarded-fetch.ts';
import { createRedisStorage, type RedisStorage } from './redis.ts';
import { loadOrCreateSecret } from './secrets.ts';
import { createSqliteStorage } from './sqlite.ts';
import { startStdio } from './stdio/start.ts';

export interface NodePlatform {
  platform: Platform;
  server: ServerConfig;
  /** undici's dispatch through the same upstream guard as `platform.fetchUpstream` (the server's fast path). */
  upstreamDispatch: UpstreamDispatch;
  /** Writes the activity record's gathered pages, waits for work handed to waitUntil, then closes the upstream connections and the database. */
  close(): Promise<void>;
}

/**
 * The self-hosted Platform from the environment: the store (SQLite in DATA_DIR, or Redis), the
 * deployment secret, the guarded upstream fetch. The server and the operator commands of the CLI
 * build it here, so both work on the same store by the same rules. Throws ConfigError for a bad
 * setting and StorageStartError for a store that cannot be used.
 */
export async function createNodePlatform(env: Env, options: { log?: Logger } = {}): Promise<NodePlatform> {
  const server = parseServerConfig(env);
  const config = parseConfig(env, { publicUrl: `http://localhost:${server.port}` });
  const log = options.log ?? createLogger(config.logLevel);
  const { storage, secret } = await openStorage(server, config.secret, log);
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
    ...(config.secretPrevious ? { previousSecret: config.secretPrevious } : {}),
    log,
    clientAddress: (request) => addressOf(request.headers.get('x-forwarded-for') ?? undefined, request.socketAddress, trustProxy),
    waitUntil: (promise) => {
      const tracked = promise.catch(() => {}).finally(() => pending.delete(tracked));
      pending.add(tracked);
    },
    processMetrics: true,
    sha256Hex: (text) => hash('sha256', text, 'hex'),
  };
  let stdio: Awaited<ReturnType<typeof startStdio>>;
  try {
    stdio = await startStdio(server, platform);
  } catch (error) {
    await guard.close();
    await storage.close();
    throw error;
  }
  if (stdio) platform.stdio = stdio;
  return {
    platform,
    server,
    upstreamDispatch: guard.dispatch,
    async close() {
      // Every stdio server process is stopped before the store closes.
      await stdio?.stopAll();
      // The activity record's gathered pages are written now, not lost (src/activity/store.ts).
      await flushActivity(platform);
      while (pending.size) await Promise.all(pending);
      await guard.close();
      await storage.close();
    },
  };
}

/**
 * The socket's peer, or, behind a proxy we were told to trust, the address it appended. Both
 * carriers ask through `platform.clientAddress`.
 */
function addressOf(forwardedFor: string | undefined, peer: string | undefined, trustProxy: boolean): string {
  if (trustProxy) {
    const last = forwardedFor
      ?.split(',')
      .map((part) => part.trim())
      .filter(Boolean)
      .at(-1);
    if (last) return last;
  }
  return peer ?? 'unknown';
}

/** Start-up stops on this with its message alone: the store named in it cannot be used. */
export class StorageStartError extends Error {}

/**
 * SQLite in DATA_DIR (one process), or Redis when REDIS_URL is set (any number of replicas). With
 * Redis the secret is shared too: KEY2OAUTH_SECRET when set, else the one the first replica stored.
 */
async function openStorage(
  server: ServerConfig,
  configuredSecret: string | undefined,
  log: Logger,
): Promise<{ storage: Storage; secret: string }> {
  if (server.redisUrl) {
    let storage: RedisStorage;
    try {
      storage = await createRedisStorage({
        url: server.redisUrl,
        keyPrefix: server.redisKeyPrefix,
        onConnectionError: (message) => log.warn('storage unavailable', { error: message }),
      });
    } catch (error) {
      throw new StorageStartError((error as Error).message);
    }
    let secret: string;
    try {
      secret = configuredSecret ?? (await storage.sharedSecret(randomToken(32)));
    } catch (error) {
      await storage.close();
      throw new StorageStartError(`cannot read the deployment secret from Redis: ${(error as Error).message}`);
    }
    const problem = secretProblem(`the deployment secret stored in Redis (${server.redisKeyPrefix}secret)`, secret);
    if (problem) {
      await storage.close();
      throw new StorageStartError(`${problem}; delete it or set KEY2OAUTH_SECRET`);
    }
    return { storage, secret };
  }
  const dataDir = resolve(server.dataDir);
  const secret = configuredSecret ?? loadOrCreateSecret(dataDir);
  return { storage: createSqliteStorage(join(dataDir, 'key2oauth.db')), secret };
}
