/**
 * The token check and key recovery alone, in µs, per storage backend: what `protect()` costs
 * before a request goes upstream (engine construction, the token's record read from the store,
 * its hash, unwrapping the grant key, decrypting the props). A real token from the in-process
 * OAuth flow; no network. Not a test: it prints.
 *   npm run bench:token-check [-- --n 5000]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSqliteStorage } from '../../src/adapters/node/sqlite.ts';
import { engine } from '../../src/oauth/engine.ts';
import type { Platform } from '../../src/platform.ts';
import { startApp } from '../../test/support/in-process.ts';

const nArg = process.argv.indexOf('--n');
const N = nArg >= 0 ? Number(process.argv[nArg + 1]) : 5000;

async function measure(backend: string, kv?: Platform['kv']): Promise<void> {
  const app = await startApp(kv ? { platform: { kv } } : {});
  try {
    const endpoint = await app.mustCreateEndpoint();
    const slug = new URL(endpoint.mcp_endpoint!).pathname.split('/')[1]!;
    const grant = await app.authorize(endpoint.mcp_endpoint!);
    const request = () =>
      new Request(endpoint.mcp_endpoint!, { method: 'POST', headers: { authorization: `Bearer ${grant.accessToken}` } });
    let recovered = '';
    const time = async (label: string, run: () => Promise<unknown>) => {
      for (let i = 0; i < Math.min(500, N); i++) await run();
      const started = process.hrtime.bigint();
      for (let i = 0; i < N; i++) await run();
      const micros = Number(process.hrtime.bigint() - started) / 1000 / N;
      console.log(`${backend.padEnd(8)} ${label.padEnd(46)} ${micros.toFixed(1).padStart(8)} µs`);
    };
    await time('engine construction only', async () => engine(app.platform, slug));
    await time('token check + key recovery (protect)', () =>
      engine(app.platform, slug).protect(request(), async (props) => {
        recovered = props.apiKey;
        return new Response(null, { status: 204 });
      }),
    );
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
