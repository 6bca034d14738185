import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { KVStore } from '../../src/storage/contract.ts';
import { createMemoryStorage } from '../../src/storage/memory.ts';
import { INITIALIZE, type InProcess, KEY, startApp } from '../support/in-process.ts';

/**
 * The key holder's JSON API (docs/key-holders.md): find the accesses made with a key, revoke them,
 * replace the key so every access sends the new one from its next request, with no new sign-in.
 */

const NEW_KEY = 'sk-replacement-fedcba9876543210';

async function tokenWorks(k: InProcess, endpoint: string, token: string): Promise<boolean> {
  const response = await k.mcp(endpoint, token, INITIALIZE);
  await response.body?.cancel();
  return response.status === 200;
}

/** Every key and value in the store, as text: what someone holding the database would read. */
async function dump(kv: KVStore): Promise<string> {
  let text = '';
  let cursor: string | undefined;
  do {
    const page = await kv.list({ ...(cursor ? { cursor } : {}) });
    for (const key of page.keys) text += `${key.name}\n${JSON.stringify(key.metadata ?? null)}\n${(await kv.get(key.name)) ?? ''}\n`;
    cursor = page.list_complete ? undefined : page.cursor;
  } while (cursor);
  return text;
}

describe('the key holder API, in-process', () => {
  let k: InProcess;
  before(async () => {
    k = await startApp({ env: { RATE_LIMIT_AUTHORIZE: '1000/600', RATE_LIMIT_AUTHORIZE_ENDPOINT: '1000/600' } });
  });
  after(() => k.close());

  const api = (path: string, body: unknown, clientAddress?: string) =>
    k.fetch(path, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      ...(clientAddress ? { clientAddress } : {}),
    });

  test('lists the accesses made with the key, by endpoint URL or slug; nothing else', async () => {
    const created = await k.mustCreateEndpoint();
    const a = created.mcp_endpoint!;
    const b = (await k.mustCreateEndpoint()).mcp_endpoint!;
    await k.authorize(a);
    await k.authorize(a);
    await k.authorize(b);
    const listed = await api('/api/access', { endpoint: a, credentials: [KEY] });
    assert.equal(listed.status, 200);
    assert.equal(listed.headers.get('cache-control'), 'no-store');
    const body = (await listed.json()) as { accesses: Record<string, unknown>[] };
    assert.equal(body.accesses.length, 2);
    for (const access of body.accesses) {
      assert.deepEqual(Object.keys(access).sort(), ['client_name', 'created_at', 'id', 'last_used_at', 'redirect_host']);
      assert.equal(access.client_name, 'In-process Client');
      assert.equal(access.redirect_host, 'client.example.net');
    }
    const bySlug = (await (await api('/api/access', { endpoint: created.slug, credentials: [`Bearer ${KEY}`] })).json()) as {
      accesses: unknown[];
    };
    assert.equal(bySlug.accesses.length, 2, 'a slug names the endpoint; a pasted scheme is taken off');
  });

  test('wrong credentials get one answer, whatever failed', async () => {
    const a = (await k.mustCreateEndpoint()).mcp_endpoint!;
    const empty = (await k.mustCreateEndpoint()).mcp_endpoint!;
    await k.authorize(a);
    const answers = await Promise.all(
      [
        { endpoint: a, credentials: ['sk-wrong'] },
        { endpoint: `${k.url}/AAAAAAAAAAAA/mcp`, credentials: [KEY] },
        { endpoint: 'https://elsewhere.example/x', credentials: [KEY] },
        { endpoint: empty, credentials: [KEY] },
      ].map(async (body) => {
        const response = await api('/api/access', body);
        return `${response.status} ${await response.text()}`;
      }),
    );
    assert.equal(new Set(answers).size, 1, answers.join('\n'));
    assert.match(answers[0]!, /^403 .*"no_access"/);
    for (const path of ['/api/access/revoke', '/api/access/replace']) {
      const response = await api(path, { endpoint: a, credentials: ['sk-wrong'], new_credentials: [NEW_KEY] });
      assert.equal(`${response.status} ${await response.text()}`, answers[0]);
    }
    const malformed = await api('/api/access', { endpoint: a, credentials: 'not a list' });
    assert.equal(malformed.status, 400);
  });

  test('a replaced key is sent from the next request on; the old one no more; storage reveals neither', async () => {
    const a = (await k.mustCreateEndpoint()).mcp_endpoint!;
    const first = await k.authorize(a);
    const second = await k.authorize(a);
    assert.ok(await tokenWorks(k, a, first.accessToken), 'the token check is now cached');

    // The issuer rotated the key: the old one is refused upstream from now on.
    k.upstream.acceptedKey = NEW_KEY;
    const refused = await api('/api/access/replace', { endpoint: a, credentials: [KEY], new_credentials: ['sk-not-accepted'] });
    assert.equal(refused.status, 422, 'the upstream refuses the new key: nothing changes');
    assert.equal(((await refused.json()) as { error: string }).error, 'credentials_rejected');

    const slug = new URL(a).pathname.split('/')[1]!;
    const grantKeys = async () => (await k.platform.kv.list({ prefix: `grant:${slug}:` })).keys;
    const before = await grantKeys();
    const replaced = await api('/api/access/replace', { endpoint: a, credentials: [KEY], new_credentials: [NEW_KEY] });
    assert.equal(replaced.status, 200);
    assert.deepEqual(await replaced.json(), { replaced: 2 });
    assert.deepEqual(await grantKeys(), before, 'the grant records keep their expiry and key metadata');

    const sent = k.upstreams.requests.length;
    assert.ok(await tokenWorks(k, a, first.accessToken), 'the cached access sends the new key');
    assert.ok(await tokenWorks(k, a, second.accessToken), 'so does the other one');
    const after = k.upstreams.requests.slice(sent);
    assert.ok(after.length >= 2);
    for (const request of after) assert.equal(request.headers.authorization, `Bearer ${NEW_KEY}`);

    // A refresh writes the new key into the grant; the new tokens send it.
    const refreshed = await k.token({
      grant_type: 'refresh_token',
      refresh_token: first.refreshToken,
      client_id: first.client.client_id,
      ...(first.client.client_secret ? { client_secret: first.client.client_secret } : {}),
    });
    assert.equal(refreshed.status, 200);
    const tokens = (await refreshed.json()) as { access_token: string };
    assert.ok(await tokenWorks(k, a, tokens.access_token));
    assert.equal(k.upstreams.requests.at(-1)!.headers.authorization, `Bearer ${NEW_KEY}`);

    // The holder now proves the access with the new key, and no longer with the old one.
    assert.equal((await api('/api/access', { endpoint: a, credentials: [KEY] })).status, 403);
    const listed = (await (await api('/api/access', { endpoint: a, credentials: [NEW_KEY] })).json()) as { accesses: unknown[] };
    assert.equal(listed.accesses.length, 2);

    await k.settle();
    const stored = await dump(k.platform.kv);
    assert.ok(!stored.includes(KEY), 'the old key is nowhere in storage');
    assert.ok(!stored.includes(NEW_KEY), 'the new key is nowhere in storage');
    assert.ok(!k.logs.join('\n').includes(NEW_KEY), 'nor in a log line');
  });

  test('a token record rewritten by a replacement while its grant was revoked does not bring the token back', async () => {
    k.upstream.acceptedKey = KEY;
    const a = (await k.mustCreateEndpoint()).mcp_endpoint!;
    const grant = await k.authorize(a);
    assert.ok(await tokenWorks(k, a, grant.accessToken), 'remembered');
    k.upstream.acceptedKey = NEW_KEY;
    assert.equal((await api('/api/access/replace', { endpoint: a, credentials: [KEY], new_credentials: [NEW_KEY] })).status, 200);
    assert.ok(await tokenWorks(k, a, grant.accessToken), 'remembered with the new key');
    const { keys } = await k.platform.kv.list({ prefix: `token:${grant.accessToken.split(':')[0]}:${grant.accessToken.split(':')[1]}:` });
    const records = await Promise.all(keys.map(async (key) => [key.name, (await k.platform.kv.get(key.name)) as string] as const));
    assert.deepEqual(await (await api('/api/access/revoke', { endpoint: a, credentials: [NEW_KEY] })).json(), {
      revoked: 1,
      revoked_apps: ['In-process Client'],
    });
    // The race: the replacement's rewrite of a token record lands after the revocation deleted it.
    for (const [name, value] of records) await k.platform.kv.put(name, value, { expirationTtl: 3600 });
    assert.equal(await tokenWorks(k, a, grant.accessToken), false, 'the grant is gone, so is the token');
    k.upstream.acceptedKey = KEY;
  });

  test('revokes one access by id, then all', async () => {
    k.upstream.acceptedKey = KEY;
    const a = (await k.mustCreateEndpoint()).mcp_endpoint!;
    const one = await k.authorize(a);
    const two = await k.authorize(a);
    const three = await k.authorize(a);
    const { accesses } = (await (await api('/api/access', { endpoint: a, credentials: [KEY] })).json()) as { accesses: { id: string }[] };
    const target = accesses.find((access) => one.accessToken.includes(`:${access.id}:`))!;
    const revoked = await api('/api/access/revoke', { endpoint: a, credentials: [KEY], id: target.id });
    assert.deepEqual(await revoked.json(), { revoked: 1, revoked_apps: ['In-process Client'] });
    assert.equal(await tokenWorks(k, a, one.accessToken), false);
    assert.ok(await tokenWorks(k, a, two.accessToken));
    assert.deepEqual(await (await api('/api/access/revoke', { endpoint: a, credentials: [KEY] })).json(), {
      revoked: 2,
      revoked_apps: ['In-process Client', 'In-process Client'],
    });
    assert.equal(await tokenWorks(k, a, three.accessToken), false);
  });
});

describe('the key holder API counts against both key limits, in-process', () => {
  let k: InProcess;
  before(async () => {
    k = await startApp({ env: { RATE_LIMIT_AUTHORIZE_ADDRESS: '3/600', RATE_LIMIT_AUTHORIZE_ENDPOINT: '4/600' } });
  });
  after(() => k.close());

  const api = (body: unknown, clientAddress: string) =>
    k.fetch('/api/access', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), clientAddress });

  test('per address, then per endpoint across addresses; the right key is refused past either', async () => {
    const a = (await k.mustCreateEndpoint()).mcp_endpoint!;
    const b = (await k.mustCreateEndpoint()).mcp_endpoint!;
    // Wrong guesses from one address: three, then refused even with the right key.
    for (let i = 0; i < 3; i++) assert.equal((await api({ endpoint: b, credentials: [`sk-guess-${i}`] }, '203.0.113.9')).status, 403);
    const perAddress = await api({ endpoint: a, credentials: [KEY] }, '203.0.113.9');
    assert.equal(perAddress.status, 429);
    assert.match(await perAddress.text(), /from your network/);
    // Endpoint a: four guesses from four addresses, the fifth is refused.
    for (let i = 0; i < 4; i++) assert.equal((await api({ endpoint: a, credentials: ['sk-guess'] }, `198.51.100.${i + 20}`)).status, 403);
    const perEndpoint = await api({ endpoint: a, credentials: [KEY] }, '198.51.100.99');
    assert.equal(perEndpoint.status, 429);
    assert.ok(Number(perEndpoint.headers.get('retry-after')) >= 1);
    assert.match(await perEndpoint.text(), /on this endpoint/);
  });
});

describe('what a key replacement costs per message, in-process', () => {
  const reads: string[] = [];
  const storage = createMemoryStorage();
  const kv: KVStore = {
    ...storage.kv,
    get: ((key: string, type?: never) => {
      reads.push(key);
      return storage.kv.get(key, type);
    }) as KVStore['get'],
  };
  let k: InProcess;
  before(async () => {
    k = await startApp({
      platform: { kv, counters: storage.counters },
      env: { RATE_LIMIT_AUTHORIZE: '1000/600', RATE_LIMIT_AUTHORIZE_ENDPOINT: '1000/600' },
    });
  });
  after(async () => {
    await k.close();
    await storage.close();
  });

  test('an access whose key was never replaced reads nothing more per message; a replaced one reads its steps once', async () => {
    const a = (await k.mustCreateEndpoint()).mcp_endpoint!;
    const grant = await k.authorize(a);
    assert.ok(await tokenWorks(k, a, grant.accessToken), 'the first check');
    reads.length = 0;
    for (let i = 0; i < 3; i++) assert.ok(await tokenWorks(k, a, grant.accessToken));
    assert.deepEqual(
      reads.filter((key) => !key.startsWith('token:')),
      [],
      'a remembered check reads the token record and nothing else',
    );

    k.upstream.acceptedKey = NEW_KEY;
    const replaced = await k.fetch('/api/access/replace', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ endpoint: a, credentials: [KEY], new_credentials: [NEW_KEY] }),
    });
    assert.equal(replaced.status, 200);
    reads.length = 0;
    for (let i = 0; i < 3; i++) assert.ok(await tokenWorks(k, a, grant.accessToken));
    assert.equal(reads.filter((key) => key.startsWith('k2o:rekey:')).length, 1, 'the steps are read once, at the first message after');
  });
});
