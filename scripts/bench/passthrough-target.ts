/** The passthrough Worker (passthrough-worker.ts) under `wrangler dev`, from a config written to a temp dir. */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { removeOnExit } from '../../test/support/exit-cleanup.ts';
import { BENCH_KEY } from './key.ts';
import type { Started, UpstreamProcess } from './targets.ts';
import { workerStarted } from './worker-target.ts';
import { startWranglerDev, type WranglerDev } from './wrangler.ts';

const ROOT = resolve(import.meta.dirname, '../..');

export async function startPassthrough(upstream: UpstreamProcess): Promise<Started> {
  const dir = removeOnExit(mkdtempSync(join(tmpdir(), 'key2oauth-bench-passthrough-')));
  const config = join(dir, 'wrangler.json');
  // Our compatibility date (read from wrangler.jsonc) and flags, so the runtime behaves as for ours.
  const ours = readFileSync(join(ROOT, 'wrangler.jsonc'), 'utf8');
  const compatibilityDate = /"compatibility_date":\s*"([^"]+)"/.exec(ours)?.[1];
  writeFileSync(
    config,
    JSON.stringify({
      name: 'bench-passthrough',
      main: join(ROOT, 'scripts/bench/passthrough-worker.ts'),
      compatibility_date: compatibilityDate,
      compatibility_flags: ['nodejs_compat', 'global_fetch_strictly_public'],
    }),
  );
  const removeDir = () => rmSync(dir, { recursive: true, force: true });
  let wrangler: WranglerDev;
  try {
    wrangler = await startWranglerDev(config, { vars: { UPSTREAM_URL: `http://127.0.0.1:${upstream.port}/mcp`, API_KEY: BENCH_KEY } });
  } catch (error) {
    removeDir();
    throw error;
  }
  const stop = async () => {
    await wrangler.stop();
    removeDir();
  };
  try {
    return workerStarted(
      'passthrough-worker',
      { ...wrangler, stop },
      { origin: `http://127.0.0.1:${wrangler.port}`, path: '/mcp', authorization: 'Bearer not-checked-by-the-passthrough' },
    );
  } catch (error) {
    await stop();
    throw error;
  }
}
