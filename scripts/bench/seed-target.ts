/**
 * The seed (github.com/t0saki/MCP-Key2OAuth: a Worker on Hono, workers-oauth-provider 0.4 and two
 * KV namespaces), from a checkout the user provides, under `wrangler dev` on the same workerd as
 * ours, offline, with an access token from its own OAuth flow. Nothing of it is copied here: the
 * bench drives its routes as a client would.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { approve, authorizationUrl, exchangeCode, pkce, register } from '../../src/cli/oauth-client.ts';
import { removeOnExit } from '../../test/support/exit-cleanup.ts';
import { BENCH_KEY } from './key.ts';
import type { Started, UpstreamProcess } from './targets.ts';
import { workerStarted } from './worker-target.ts';
import { startWranglerDev, WRANGLER, wranglerEnv } from './wrangler.ts';

/** How to get the seed, for the note printed when `--seed` is not given. */
export const SEED_HINT =
  'the seed is not measured: clone it (git clone https://github.com/t0saki/MCP-Key2OAuth /tmp/seed) and pass --seed /tmp/seed';

/** Why `dir` cannot be the seed's checkout, or undefined when it looks like one. Checked before anything starts. */
export function seedCheckoutProblem(dir: string): string | undefined {
  for (const file of ['package.json', 'wrangler.jsonc', 'src/index.ts']) {
    if (!existsSync(join(dir, file)))
      return `--seed ${dir} has no ${file}: give a checkout of the seed (git clone https://github.com/t0saki/MCP-Key2OAuth)`;
  }
  return undefined;
}

/**
 * The seed's Worker as published (`seed-worker`) or, with `memoized`, the same code with its
 * endpoint-record reads kept in isolate memory (`seed-memoized-worker`, seed-memo-worker.ts).
 */
export async function startSeed(
  upstream: UpstreamProcess,
  dir: string,
  log: (line: string) => void,
  options: { memoized?: boolean } = {},
): Promise<Started> {
  const config = join(dir, 'wrangler.jsonc');
  installDependencies(dir, log);
  const main = options.memoized ? memoizedSeedEntry(dir) : undefined;

  const persistDir = mkdtempSync(join(tmpdir(), 'key2oauth-bench-seed-'));
  const slug = randomSlug();
  try {
    putSlugRecord(config, persistDir, slug, `http://127.0.0.1:${upstream.port}/mcp`);
  } catch (error) {
    rmSync(persistDir, { recursive: true, force: true });
    throw error;
  }
  const wrangler = await startWranglerDev(config, { persistDir, ...(main ? { main } : {}) });
  try {
    const url = `http://127.0.0.1:${wrangler.port}`;
    const accessToken = await seedAccessToken(url, `${url}/${slug}/mcp`);
    return workerStarted(options.memoized ? 'seed-memoized-worker' : 'seed-worker', wrangler, {
      origin: url,
      path: `/${slug}/mcp`,
      authorization: `Bearer ${accessToken}`,
    });
  } catch (error) {
    await wrangler.stop();
    throw new Error(`the seed did not start for the bench: ${(error as Error).message}\n${wrangler.output().slice(-4000)}`);
  }
}

/**
 * An entry module, in a temp dir, that exports the seed's own Worker (its src/index.ts, from the
 * checkout, unchanged) wrapped by memoizeConfigReads. wrangler bundles it with the seed's code and
 * node_modules, and runs it with the seed's wrangler.jsonc (its bindings and compatibility date).
 */
function memoizedSeedEntry(dir: string): string {
  const entryDir = removeOnExit(mkdtempSync(join(tmpdir(), 'key2oauth-bench-seed-memo-')));
  const entry = join(entryDir, 'index.ts');
  const wrapper = resolve(import.meta.dirname, 'seed-memo-worker.ts');
  writeFileSync(
    entry,
    `import seed from ${JSON.stringify(join(dir, 'src/index.ts'))};\nimport { memoizeConfigReads } from ${JSON.stringify(wrapper)};\nexport default memoizeConfigReads(seed);\n`,
  );
  return entry;
}

/**
 * Its runtime dependencies (Hono, the OAuth provider), from the registry, as its lockfile pins
 * them; only when missing. No dev dependencies (our wrangler runs it) and no install scripts.
 * npm's output goes to stderr, so that --json keeps stdout one JSON document.
 */
function installDependencies(dir: string, log: (line: string) => void): void {
  if (existsSync(join(dir, 'node_modules/@cloudflare/workers-oauth-provider/package.json'))) return;
  log(`bench: installing the seed's dependencies (npm ci --omit=dev in ${dir})`);
  const installed = spawnSync('npm', ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund'], {
    cwd: dir,
    stdio: ['ignore', process.stderr, process.stderr],
  });
  if (installed.status !== 0) throw new Error(`npm ci in ${dir} failed (exit ${installed.status})`);
}

/** Twelve characters of [a-z0-9], the shape of the seed's own slugs. */
function randomSlug(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  return Array.from(crypto.getRandomValues(new Uint8Array(12)), (byte) => alphabet[byte % alphabet.length]).join('');
}

/**
 * The endpoint record, written into the seed's local SLUG_KV before it starts. Its creation route
 * (POST /api/slugs) accepts only https upstreams on public hosts, and the bench upstream is plain
 * HTTP on loopback (nothing may leave the machine), so the record that route would write (the
 * same fields, the key sent as `Authorization: Bearer …`) is put there with `wrangler kv key put
 * --local`. Everything measured (its token check, its KV reads, its proxying) is the seed's own.
 */
function putSlugRecord(config: string, persistDir: string, slug: string, upstreamUrl: string): void {
  const record = {
    upstream_url: upstreamUrl,
    auth_header_name: 'Authorization',
    auth_header_prefix: 'Bearer ',
    display_name: 'bench upstream',
    created_at: Date.now(),
  };
  const put = spawnSync(
    process.execPath,
    [
      WRANGLER,
      'kv',
      'key',
      'put',
      `slug:${slug}`,
      JSON.stringify(record),
      '--binding',
      'SLUG_KV',
      '--local',
      '--persist-to',
      persistDir,
      '--config',
      config,
    ],
    { env: wranglerEnv(persistDir), encoding: 'utf8' },
  );
  if (put.status !== 0) throw new Error(`wrangler kv key put into the seed's SLUG_KV failed:\n${put.stdout}${put.stderr}`);
}

/**
 * The seed's OAuth flow as a client walks it, with the same raw client as doctor and the tests:
 * dynamic registration at /register, its paste-your-key page at /authorize (the `resource` names
 * the endpoint; its form says POST in capitals and posts to its own /authorize), approval with
 * the key, code exchange at /token.
 */
async function seedAccessToken(url: string, endpoint: string): Promise<string> {
  const redirectUri = 'http://127.0.0.1:9/callback';
  const client = await register(fetch, `${url}/register`, { client_name: 'bench', redirect_uris: [redirectUri] });
  if (!client.clientId) throw new Error(`the seed's registration answered ${client.status}: ${JSON.stringify(client.body)}`);
  const { verifier, challenge } = pkce();
  const authorize = authorizationUrl(`${url}/authorize`, {
    clientId: client.clientId,
    redirectUri,
    challenge,
    resource: endpoint,
    state: 'bench',
  });
  const approval = await approve(fetch, authorize, { api_key: BENCH_KEY });
  if (!approval.ok) throw new Error(`the seed's approval gave no code: ${approval.problem}\n${(approval.html ?? '').slice(0, 2000)}`);
  const token = await exchangeCode(fetch, `${url}/token`, {
    code: approval.code,
    verifier,
    clientId: client.clientId,
    redirectUri,
    resource: endpoint,
  });
  if (!token.body.access_token) throw new Error(`the seed's code exchange answered ${token.status}: ${JSON.stringify(token.body)}`);
  return token.body.access_token;
}
