import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { createEndpoint } from '../support/api.ts';
import { connectWithOAuth } from '../support/oauth-client.ts';
import { startServer } from '../support/server-process.ts';
import { targets } from '../support/targets.ts';
import { startUpstream, type Upstream } from '../support/upstream.ts';
import { startWorker } from '../support/worker-process.ts';

/**
 * Key holders on the real server and the Worker (docs/key-holders.md): a key replaced through the
 * JSON API and through the /access page reaches the upstream from the next request of a real MCP
 * SDK client that keeps its tokens; the old key no more; the store on disk holds none of the keys;
 * a restart with a new deployment secret (the old one as KEY2OAUTH_SECRET_PREVIOUS) keeps the
 * grant, the manage token and the key holder's lookup working.
 */

const KEYS = ['sk-holder-original-0123456789', 'sk-holder-api-replaced-abcdef', 'sk-holder-page-replaced-fedcba'] as const;
const OLD_SECRET = randomBytes(32).toString('base64url');
const NEW_SECRET = randomBytes(32).toString('base64url');
const LIMITS = { RATE_LIMIT_AUTHORIZE: '100/600', RATE_LIMIT_AUTHORIZE_ENDPOINT: '100/600' };
const SAME_ORIGIN = { 'content-type': 'application/x-www-form-urlencoded', 'sec-fetch-site': 'same-origin', origin: 'null' };

interface Deployment {
  url: string;
  /** Where the store lives on disk: DATA_DIR, or wrangler's --persist-to. */
  dir: string;
  output(): string;
  stop(): Promise<unknown>;
}

/** Starts the target; `again` restarts it on the same store and port with other settings. */
async function launch(target: string, env: Record<string, string>, again?: Deployment): Promise<Deployment> {
  // Our own directory, so that stopping keeps the store for the restart.
  const dir = again?.dir ?? mkdtempSync(join(tmpdir(), 'key2oauth-holders-'));
  const port = again ? Number(new URL(again.url).port) : undefined;
  if (target === 'node') {
    const server = await startServer(env, { dataDir: dir, ...(port ? { port } : {}) });
    return { url: server.url, dir, output: server.output, stop: () => server.stop() };
  }
  const worker = await startWorker(env, { persistDir: dir, ...(port ? { port } : {}) });
  return { url: worker.url, dir, output: worker.output, stop: () => worker.stop() };
}

/** Every byte the deployment keeps on disk (database, KV blobs, logs), as text. */
function everythingOnDisk(dir: string): string {
  let text = '';
  for (const name of readdirSync(dir, { recursive: true }) as string[]) {
    const path = join(dir, name);
    if (statSync(path).isFile()) text += readFileSync(path).toString('latin1');
  }
  return text;
}

async function echo(client: Client, text: string): Promise<string> {
  const result = (await client.callTool({ name: 'echo', arguments: { text } })) as { content: { text: string }[] };
  return result.content[0]!.text;
}

for (const target of targets())
  describe(`key holders and secret rotation (${target.name})`, () => {
    let upstream: Upstream;
    let deployment: Deployment;
    let client: Client;
    let endpoint: string;
    let slug: string;
    let manageToken: string;
    before(async () => {
      upstream = await startUpstream({ key: KEYS[0] });
      deployment = await launch(target.name, { KEY2OAUTH_SECRET: OLD_SECRET, ...LIMITS });
      const created = await createEndpoint(deployment, { upstream_url: upstream.url });
      endpoint = created.body.mcp_endpoint!;
      slug = created.body.slug!;
      manageToken = created.body.manage_token!;
      ({ client } = await connectWithOAuth(endpoint, KEYS[0]));
      assert.equal(await echo(client, 'first'), 'echo: first');
    });
    after(async () => {
      await client?.close().catch(() => {});
      await deployment?.stop();
      await upstream?.close();
      if (deployment) rmSync(deployment.dir, { recursive: true, force: true });
    });

    const api = (path: string, body: unknown) =>
      fetch(`${deployment.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

    /** The keys the upstream received since `from`. */
    const keysSince = (from: number) => new Set(upstream.requests.slice(from).map((request) => request.headers.authorization));

    test('a key replaced through the API is used on the next request of a client that keeps its tokens', async () => {
      const wrong = await api('/api/access/replace', { endpoint, credentials: ['sk-wrong'], new_credentials: [KEYS[1]] });
      const unknown = await api('/api/access/replace', { endpoint: 'AAAAAAAAAAAA', credentials: [KEYS[0]], new_credentials: [KEYS[1]] });
      assert.equal(wrong.status, 403);
      assert.equal(`${unknown.status} ${await unknown.text()}`, `${wrong.status} ${await wrong.text()}`, 'one answer');

      upstream.acceptedKey = KEYS[1];
      const replaced = await api('/api/access/replace', { endpoint, credentials: [KEYS[0]], new_credentials: [KEYS[1]] });
      assert.equal(replaced.status, 200);
      assert.deepEqual(await replaced.json(), { replaced: 1 });
      const from = upstream.requests.length;
      assert.equal(await echo(client, 'after the API'), 'echo: after the API');
      assert.deepEqual(keysSince(from), new Set([`Bearer ${KEYS[1]}`]), 'the new key only');
    });

    test('a key replaced through the page is used on the next request too', async () => {
      const found = await fetch(`${deployment.url}/access`, {
        method: 'POST',
        headers: SAME_ORIGIN,
        body: new URLSearchParams({ action: 'find', endpoint, credential_0: KEYS[1] }),
        redirect: 'manual',
      });
      assert.equal(found.status, 303);
      assert.equal(found.headers.get('location'), '/access');
      const cookie = found.headers.getSetCookie()[0]!.split(';')[0]!;
      const page = await (await fetch(`${deployment.url}/access`, { headers: { cookie } })).text();
      assert.match(page, /Test MCP Client/);

      upstream.acceptedKey = KEYS[2];
      const replaced = await fetch(`${deployment.url}/access`, {
        method: 'POST',
        headers: { ...SAME_ORIGIN, cookie },
        body: new URLSearchParams({ action: 'replace', new_credential_0: KEYS[2] }),
        redirect: 'manual',
      });
      assert.equal(replaced.status, 303);
      const shown = await (await fetch(`${deployment.url}/access`, { headers: { cookie } })).text();
      assert.match(shown, /one app will send the new key/);
      const from = upstream.requests.length;
      assert.equal(await echo(client, 'after the page'), 'echo: after the page');
      assert.deepEqual(keysSince(from), new Set([`Bearer ${KEYS[2]}`]));
    });

    test('a restart with a new secret and the old one as previous keeps the grant, the manage token and the lookup; the store holds no key', async () => {
      await deployment.stop();
      for (const key of KEYS) assert.ok(!deployment.output().includes(key), `${key} is in no log line`);
      const disk = everythingOnDisk(deployment.dir);
      assert.ok(disk.includes(`grant:${slug}:`), 'the scan reads the store');
      for (const key of KEYS) assert.ok(!disk.includes(key), `${key} is nowhere on disk`);
      deployment = await launch(
        target.name,
        { KEY2OAUTH_SECRET: NEW_SECRET, KEY2OAUTH_SECRET_PREVIOUS: OLD_SECRET, ...LIMITS },
        deployment,
      );

      const from = upstream.requests.length;
      assert.equal(await echo(client, 'after the rotation'), 'echo: after the rotation', 'the same client, the same tokens');
      assert.deepEqual(keysSince(from), new Set([`Bearer ${KEYS[2]}`]));
      const managed = await fetch(`${deployment.url}/api/slugs/${slug}`, { headers: { authorization: `Bearer ${manageToken}` } });
      assert.equal(managed.status, 200, 'the manage token works');
      const listed = await api('/api/access', { endpoint, credentials: [KEYS[2]] });
      assert.equal(listed.status, 200);
      assert.equal(((await listed.json()) as { accesses: unknown[] }).accesses.length, 1, 'the key holder finds the access');
      assert.equal((await api('/api/access', { endpoint, credentials: [KEYS[0]] })).status, 403, 'the replaced key opens nothing');
    });
  });
