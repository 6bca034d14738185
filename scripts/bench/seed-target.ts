/**
 * The seed (github.com/t0saki/MCP-Key2OAuth: a Worker on Hono, workers-oauth-provider 0.4 and two
 * KV namespaces), from a checkout the user provides, under `wrangler dev` on the same workerd as
 * ours, offline, with an access token from its own OAuth flow. Nothing of it is copied here: the
 * bench drives its routes as a client would.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'node-html-parser';
import { pkce } from '../../test/support/oauth-raw.ts';
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

export async function startSeed(upstream: UpstreamProcess, dir: string, log: (line: string) => void): Promise<Started> {
  const config = join(dir, 'wrangler.jsonc');
  installDependencies(dir, log);

  const persistDir = mkdtempSync(join(tmpdir(), 'key2oauth-bench-seed-'));
  const slug = randomSlug();
  try {
    putSlugRecord(config, persistDir, slug, `http://127.0.0.1:${upstream.port}/mcp`);
  } catch (error) {
    rmSync(persistDir, { recursive: true, force: true });
    throw error;
  }
  const wrangler = await startWranglerDev(config, { persistDir });
  try {
    const url = `http://127.0.0.1:${wrangler.port}`;
    const accessToken = await seedAccessToken(url, `${url}/${slug}/mcp`);
    return workerStarted('seed-worker', wrangler, {
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
 * The seed's OAuth flow as a client walks it: dynamic registration at /register, its paste-your-key
 * page at /authorize (the `resource` names the endpoint), approval with the key, code exchange at /token.
 */
async function seedAccessToken(url: string, endpoint: string): Promise<string> {
  const redirectUri = 'http://127.0.0.1:9/callback';
  const registered = await fetch(`${url}/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      client_name: 'bench',
      redirect_uris: [redirectUri],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    }),
  });
  const client = (await registered.json()) as { client_id?: string };
  if (!registered.ok || !client.client_id)
    throw new Error(`the seed's registration answered ${registered.status}: ${JSON.stringify(client)}`);
  const { verifier, challenge } = pkce();
  const authorize = new URL(`${url}/authorize`);
  authorize.search = new URLSearchParams({
    response_type: 'code',
    client_id: client.client_id,
    redirect_uri: redirectUri,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    state: 'bench',
    resource: endpoint,
  }).toString();
  const code = await pasteKey(authorize, BENCH_KEY);
  const exchanged = await fetch(`${url}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code,
      code_verifier: verifier,
      client_id: client.client_id,
      redirect_uri: redirectUri,
      resource: endpoint,
    }),
  });
  const token = (await exchanged.json()) as { access_token?: string };
  if (!exchanged.ok || !token.access_token)
    throw new Error(`the seed's code exchange answered ${exchanged.status}: ${JSON.stringify(token)}`);
  return token.access_token;
}

/**
 * The seed's consent page as a browser submits it: its one form's hidden fields and the pasted key,
 * posted to the form's action; its answer is the redirect to the client with the code. (The
 * browser in test/support/ looks for our page's lower-case `method="post"`; the seed's says POST.)
 */
async function pasteKey(authorize: URL, key: string): Promise<string> {
  const page = await fetch(authorize, { redirect: 'manual' });
  const html = await page.text();
  const form = parse(html)
    .querySelectorAll('form')
    .find((candidate) => candidate.getAttribute('method')?.toLowerCase() === 'post');
  if (page.status !== 200 || !form)
    throw new Error(`the seed's authorization page answered ${page.status} without a form:\n${html.slice(0, 2000)}`);
  const body = new URLSearchParams();
  for (const input of form.querySelectorAll('input')) {
    const name = input.getAttribute('name');
    if (name && input.getAttribute('type') === 'hidden') body.set(name, input.getAttribute('value') ?? '');
  }
  body.set('api_key', key);
  const approved = await fetch(new URL(form.getAttribute('action') ?? authorize.pathname, authorize), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body,
    redirect: 'manual',
  });
  const location = approved.headers.get('location');
  const code = location ? new URL(location).searchParams.get('code') : null;
  if (!code) throw new Error(`the seed's approval answered ${approved.status} without a code: ${location ?? (await approved.text())}`);
  return code;
}
