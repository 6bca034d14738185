import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createSqliteStorage } from '../../src/adapters/node/sqlite.ts';
import { INITIALIZE, type InProcess, PUBLIC_URL, startApp, UPSTREAM_URL } from '../support/in-process.ts';
import { freePort } from '../support/server-process.ts';
import { startUpstream } from '../support/upstream.ts';

/**
 * `key2oauth endpoints …` and `key2oauth grants …` on a real DATA_DIR: the store is filled by the
 * app itself (an in-process app on the same SQLite file), then each command runs as the operator
 * would run it, as its own process.
 */

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'key2oauth.js');

describe('operator commands on the configured store', () => {
  let dataDir: string;
  let env: Record<string, string>;
  let k: InProcess;
  let storage: ReturnType<typeof createSqliteStorage>;
  let slug: string;
  let endpoint: string;
  let tokens: { claude: string; cursor: string };

  function cli(...args: string[]) {
    const run = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 60_000, env });
    return { status: run.status, stdout: run.stdout, stderr: run.stderr };
  }
  /** The same, without blocking this process: for commands that reach an upstream served from here. */
  function cliAsync(...args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
    const child = spawn(process.execPath, [BIN, ...args], { env, timeout: 60_000 });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk));
    return new Promise((resolve) => child.on('close', (status) => resolve({ status, stdout, stderr })));
  }
  async function works(token: string): Promise<boolean> {
    const response = await k.mcp(endpoint, token, INITIALIZE);
    await response.body?.cancel();
    return response.status === 200;
  }

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'key2oauth-operator-'));
    env = { PATH: process.env.PATH ?? '', DATA_DIR: dataDir, PUBLIC_URL, PORT: String(await freePort()), ALLOW_PRIVATE_UPSTREAMS: 'true' };
    storage = createSqliteStorage(join(dataDir, 'key2oauth.db'));
    k = await startApp({ platform: { kv: storage.kv } });
    const created = await k.mustCreateEndpoint({ upstream_url: UPSTREAM_URL, display_name: 'Echo' });
    slug = created.slug!;
    endpoint = created.mcp_endpoint!;
    tokens = {
      claude: (await k.authorize(endpoint, { client: await k.register({ client_name: 'Claude' }) })).accessToken,
      cursor: (await k.authorize(endpoint, { client: await k.register({ client_name: 'Cursor' }) })).accessToken,
    };
  });
  after(async () => {
    await k?.close();
    await storage?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('--help for each, and a wrong command line exits 2', () => {
    for (const command of ['endpoints', 'grants']) {
      const help = cli(command, '--help');
      assert.equal(help.status, 0);
      assert.match(help.stdout, /Exit codes: 0 done, 1 failed .*2 wrong command line,\s+3 no such endpoint/s);
    }
    assert.equal(cli('endpoints').status, 2);
    assert.equal(cli('endpoints', 'frob').status, 2);
    assert.equal(cli('endpoints', 'show').status, 2);
    assert.equal(cli('endpoints', 'list', '--nope').status, 2);
    assert.equal(cli('grants', 'revoke', slug).status, 2, 'revoke needs a grant id or --all');
  });

  test('endpoints list and show, as text and as JSON', () => {
    const text = cli('endpoints', 'list');
    assert.equal(text.status, 0, text.stderr);
    assert.match(text.stdout, new RegExp(`^SLUG\\s+NAME\\s+UPSTREAM\\s+CREATED\\n${slug}\\s+Echo\\s+echo\\.example\\.com`, 'm'));
    const json = JSON.parse(cli('endpoints', 'list', '--json').stdout) as { endpoints: { slug: string; mcp_endpoint: string }[] };
    assert.deepEqual(
      json.endpoints.map((e) => [e.slug, e.mcp_endpoint]),
      [[slug, endpoint]],
    );

    const shown = JSON.parse(cli('endpoints', 'show', slug, '--json').stdout) as { slug: string; grants: { client_name: string }[] };
    assert.equal(shown.slug, slug);
    assert.deepEqual(shown.grants.map((g) => g.client_name).sort(), ['Claude', 'Cursor']);
    assert.match(cli('endpoints', 'show', slug).stdout, /header\s+Authorization: Bearer <key>/);
    const missing = cli('endpoints', 'show', 'AAAAAAAAAAAA');
    assert.equal(missing.status, 3);
    assert.match(missing.stderr, /no endpoint "AAAAAAAAAAAA"/);
  });

  test('grants list and revoke one: that client is refused, the other goes on; --all takes the rest', async () => {
    const listed = JSON.parse(cli('grants', 'list', slug, '--json').stdout) as { grants: { id: string; client_name: string }[] };
    const claude = listed.grants.find((g) => g.client_name === 'Claude')!;
    assert.equal(cli('grants', 'revoke', slug, 'no-such-grant').status, 3);
    assert.equal(cli('grants', 'list', 'AAAAAAAAAAAA').status, 3);

    const revoked = cli('grants', 'revoke', slug, claude.id);
    assert.equal(revoked.status, 0, revoked.stderr);
    assert.equal(await works(tokens.claude), false, 'the revoked client is refused at once');
    assert.ok(await works(tokens.cursor));

    const all = JSON.parse(cli('grants', 'revoke', slug, '--all', '--json').stdout) as { revoked_grants: number };
    assert.equal(all.revoked_grants, 1);
    assert.equal(await works(tokens.cursor), false);
  });

  test('endpoints create prints the URL and the manage link; a refused URL or an upstream that does not answer exits 1; delete removes it', async (t) => {
    const upstream = await startUpstream({ key: 'sk-operator-cli-0123456789' });
    t.after(() => upstream.close());
    const port = Number(new URL(upstream.url).port);
    const created = await cliAsync('endpoints', 'create', '--upstream', upstream.url, '--name', 'Mine', '--json');
    assert.equal(created.status, 0, created.stderr);
    const body = JSON.parse(created.stdout) as { slug: string; mcp_endpoint: string; manage_url: string; warnings: string[] };
    assert.equal(body.mcp_endpoint, `${PUBLIC_URL}/${body.slug}/mcp`);
    assert.match(body.manage_url, new RegExp(`^${PUBLIC_URL}/manage/${body.slug}#token=`));
    assert.deepEqual(body.warnings, []);

    const closed = cli('endpoints', 'create', '--upstream', `http://127.0.0.1:${await freePort()}/mcp`);
    assert.equal(closed.status, 1);
    assert.match(closed.stderr, /cannot be reached: the connection was refused/);
    const prm = await k.fetch(`/.well-known/oauth-protected-resource/${body.slug}/mcp`);
    assert.equal(prm.status, 200, 'the server sees the endpoint the CLI made');

    const templated = await cliAsync(
      'endpoints',
      'create',
      '--upstream',
      `http://127.0.0.1:${port}/mcp`,
      '--credentials',
      '[{"in":"query","name":"api_key"},{"in":"header","name":"X-Account-Id"}]',
    );
    assert.equal(templated.status, 0, templated.stderr);
    const templatedSlug = /\/([A-Za-z0-9]{12})\/mcp/.exec(templated.stdout)![1]!;
    assert.match(
      cli('endpoints', 'show', templatedSlug).stdout,
      new RegExp(`sends\\s+POST http://127\\.0\\.0\\.1:${port}/mcp\\?api_key=<your api_key>\\n\\s+X-Account-Id: <your X-Account-Id>`),
    );
    assert.equal(cli('endpoints', 'create', '--upstream', 'https://example.com/mcp', '--credentials', 'nope').status, 2);
    assert.match(cli('endpoints', 'create', '--upstream', 'https://example.com/mcp', '--credentials', '[]').stderr, /1 to 4 fields/);

    const refused = cli('endpoints', 'create', '--upstream', 'ftp://example.com/mcp');
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /key2oauth: The URL must start with https:\/\//);

    const deleted = cli('endpoints', 'delete', body.slug);
    assert.equal(deleted.status, 0, deleted.stderr);
    assert.match(deleted.stdout, new RegExp(`Deleted ${body.slug}`));
    assert.equal(cli('endpoints', 'delete', body.slug).status, 3);
    assert.equal((await k.fetch(`/.well-known/oauth-protected-resource/${body.slug}/mcp`)).status, 404);
  });

  test('a bad setting is exit 1 with the reason', () => {
    const run = spawnSync(process.execPath, [BIN, 'endpoints', 'list'], {
      encoding: 'utf8',
      timeout: 60_000,
      env: { ...env, PUBLIC_URL: 'http://192.0.2.2:9105' },
    });
    assert.equal(run.status, 1);
    assert.match(run.stderr, /PUBLIC_URL must use https/);
  });

  test('audit: what the app and the operator did, newest first, filtered, as text and as JSON', () => {
    const json = cli('audit', '--json');
    assert.equal(json.status, 0, json.stderr);
    const { events } = JSON.parse(json.stdout) as {
      events: Array<{ at: string; actor: string; action: string; slug: string | null; detail: string }>;
    };
    const seen = events.map((event) => `${event.actor} ${event.action}`);
    assert.ok(seen.includes('anyone endpoint.created'), seen.join('; '));
    assert.ok(seen.includes('key holder access.granted'));
    assert.ok(seen.includes('operator endpoint.deleted'), 'the CLI delete above');
    assert.deepEqual(
      events.map((event) => event.at),
      events
        .map((event) => event.at)
        .sort()
        .reverse(),
      'newest first',
    );
    const granted = JSON.parse(cli('audit', '--json', '--action', 'access.granted', '--slug', slug).stdout) as { events: unknown[] };
    assert.equal(granted.events.length, 2);
    const text = cli('audit', '--actor', 'key holder', '--limit', '1');
    assert.match(text.stdout, /^WHEN\s+WHO\s+WHAT\s+ENDPOINT\s+DETAIL\n\S+\s+key holder\s+access\.granted/);
    assert.equal(cli('audit', '--since', 'whenever').status, 2);
  });
});
