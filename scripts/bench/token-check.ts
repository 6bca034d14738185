/**
 * The token check and key recovery alone, in µs, per storage backend (memory, SQLite, and Redis
 * when REDIS_URL is set): what a request costs before it goes upstream, through `verify()`, which
 * every carrier's admission calls (src/mcp/admission.ts), with the Node platform's synchronous
 * SHA-256. Checks are remembered (src/oauth/token-cache.ts), so a repeated token costs its hash and
 * one read of its record (on Redis, answered from the client-side cache while the record is
 * unchanged: src/adapters/node/redis.ts); the first check of a token (unwrap the grant key, decrypt the props) is timed
 * once per backend as `first check`. A real token from the in-process OAuth flow; no network.
 * Not a test: it prints.
 *   npm run bench:token-check [-- --n 5000]
 */
import { hash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRedisStorage } from '../../src/adapters/node/redis.ts';
import { createSqliteStorage } from '../../src/adapters/node/sqlite.ts';
import { engine } from '../../src/oauth/engine.ts';
import { grantCredentials } from '../../src/oauth/grant-credentials.ts';
import type { Platform } from '../../src/platform.ts';
import { startApp } from '../../test/support/in-process.ts';

const nArg = process.argv.indexOf('--n');
const N = nArg >= 0 ? Number(process.argv[nArg + 1]) : 5000;

async function measure(backend: string, kv?: Platform['kv']): Promise<void> {
  const sha256Hex = (text: string) => hash('sha256', text, 'hex');
  const app = await startApp({ platform: { ...(kv ? { kv } : {}), sha256Hex } });
  try {
    const endpoint = await app.mustCreateEndpoint();
    const slug = new URL(endpoint.mcp_endpoint!).pathname.split('/')[1]!;
    const grant = await app.authorize(endpoint.mcp_endpoint!);
    let recovered = '';
    const time = async (label: string, run: () => Promise<unknown>) => {
      // node-redis's path takes more than 500 calls to be optimized (it read 35 µs after 500, 6 after 5,000).
      for (let i = 0; i < Math.min(5000, N); i++) await run();
      const started = process.hrtime.bigint();
      for (let i = 0; i < N; i++) await run();
      const micros = Number(process.hrtime.bigint() - started) / 1000 / N;
      console.log(`${backend.padEnd(8)} ${label.padEnd(46)} ${micros.toFixed(1).padStart(8)} µs`);
    };
    const first = process.hrtime.bigint();
    if (!(await engine(app.platform, slug).verify(grant.accessToken))) throw new Error('the token was refused');
    console.log(
      `${backend.padEnd(8)} ${'first check (unwrap, decrypt), once'.padEnd(46)} ${(Number(process.hrtime.bigint() - first) / 1000).toFixed(1).padStart(8)} µs`,
    );
    await time('engine construction only', async () => engine(app.platform, slug));
    await time('token check + key recovery (verify, every carrier)', async () => {
      recovered = grantCredentials((await engine(app.platform, slug).verify(grant.accessToken))!.props)[0] ?? '';
    });
    if (!recovered) throw new Error('the key was not recovered');
  } finally {
    await app.close();
  }
}

console.log(`node ${process.version}, ${N} calls each after a warm-up`);
await measure('memory');
const dir = mkdtempSync(join(tmpdir(), 'key2oauth-bench-token-'));
const sqlite = createSqliteStorage(join(dir, 'bench.sqlite'));
try {
  await measure('sqlite', sqlite.kv);
} finally {
  await sqlite.close();
  rmSync(dir, { recursive: true, force: true });
}
if (process.env.REDIS_URL) {
  const redis = await createRedisStorage({ url: process.env.REDIS_URL, keyPrefix: `k2o-bench-${process.pid}:` });
  try {
    await measure('redis', redis.kv);
  } finally {
    await redis.close();
  }
} else console.log('redis    (set REDIS_URL=redis://127.0.0.1:6379 to measure it)');
