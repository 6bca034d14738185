import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createSqliteStorage } from '../../src/adapters/node/sqlite.ts';
import { INITIALIZE, type InProcess, PUBLIC_URL, startApp, UPSTREAM_URL } from '../support/in-process.ts';
import { freePort } from '../support/server-process.ts';

/** `key2oauth activity <slug> [--json]` on a real DATA_DIR filled by the app itself (as test/cli/operator.test.ts). */

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'key2oauth.js');

describe('key2oauth activity', () => {
  let dataDir: string;
  let env: Record<string, string>;
  let k: InProcess;
  let storage: ReturnType<typeof createSqliteStorage>;
  let slug: string;

  const cli = (...args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 60_000, env });

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'key2oauth-activity-'));
    env = { PATH: process.env.PATH ?? '', DATA_DIR: dataDir, PUBLIC_URL, PORT: String(await freePort()), ALLOW_PRIVATE_UPSTREAMS: 'true' };
    storage = createSqliteStorage(join(dataDir, 'key2oauth.db'));
    k = await startApp({ platform: { kv: storage.kv } });
    const created = await k.mustCreateEndpoint({ upstream_url: UPSTREAM_URL });
    slug = created.slug!;
    const grant = await k.authorize(created.mcp_endpoint!, { client: await k.register({ client_name: 'Claude' }) });
    await (await k.mcp(created.mcp_endpoint!, grant.accessToken, INITIALIZE)).text();
    await k.settle();
  });
  after(async () => {
    await k?.close();
    await storage?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('prints the record as a table and as JSON; an unknown endpoint exits 3; --help', () => {
    const text = cli('activity', slug);
    assert.equal(text.status, 0, text.stderr);
    assert.match(text.stdout, /AT\s+APP\s+ACCESS\s+METHOD/);
    assert.match(text.stdout, /Claude/);
    const json = cli('activity', slug, '--json');
    assert.equal(json.status, 0, json.stderr);
    const { activity } = JSON.parse(json.stdout) as { activity: { client_name: string; status: number }[] };
    assert.equal(activity.length, 1);
    assert.deepEqual([activity[0]!.client_name, activity[0]!.status], ['Claude', 200]);
    assert.equal(cli('activity', 'nosuchslug000').status, 3);
    assert.equal(cli('activity', '--help').status, 0);
    assert.equal(cli('activity').status, 2);
  });
});
