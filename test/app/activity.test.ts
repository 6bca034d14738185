import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse } from 'node-html-parser';
import { flushActivity, listActivity, MAX_PER_ENDPOINT, recordActivity } from '../../src/activity/store.ts';
import { createRedisStorage } from '../../src/adapters/node/redis.ts';
import { createSqliteStorage } from '../../src/adapters/node/sqlite.ts';
import type { ActivityRow } from '../../src/manage/activity-view.ts';
import type { Platform } from '../../src/platform.ts';
import { createMemoryStorage } from '../../src/storage/memory.ts';
import { INITIALIZE, type InProcess, KEY, PUBLIC_URL, startApp } from '../support/in-process.ts';
import { serveLegacySse } from '../support/in-process-upstream.ts';
import { redisAvailable, startRedis } from '../support/redis-server.ts';
import { sseReader } from '../support/transport-helpers.ts';

/**
 * The activity record (docs/tools-and-activity.md), in-process with the memory store: every
 * message through a grant is recorded with its outcome, readable by the creator (manage token)
 * and by the key holder (their credentials, their own accesses only), and the whole store is
 * scanned for what must never be in it: arguments, results, the key, tokens.
 */

const ARGUMENT = 'argument-value-5be1c9';
const METRICS_TOKEN = 'metrics-token-activity-0123456789';

type Row = ActivityRow;

/** The stores the record is written to: the memory store, SQLite and Redis (the Worker's KV: test/e2e/tool-choice.test.ts). */
const STORES: { name: string; open(): Promise<{ kv?: Platform['kv']; close(): Promise<unknown> }> }[] = [
  { name: 'memory', open: async () => ({ close: async () => {} }) },
  {
    name: 'SQLite',
    open: async () => {
      const dir = mkdtempSync(join(tmpdir(), 'key2oauth-activity-'));
      const storage = createSqliteStorage(join(dir, 'key2oauth.db'));
      return {
        kv: storage.kv,
        close: async () => {
          await storage.close();
          rmSync(dir, { recursive: true, force: true });
        },
      };
    },
  },
  ...(redisAvailable()
    ? [
        {
          name: 'Redis',
          open: async () => {
            const server = await startRedis();
            const storage = await createRedisStorage({ url: server.url, keyPrefix: 'activity-test:', sweepIntervalMs: 0 });
            return {
              kv: storage.kv,
              close: async () => {
                await storage.close();
                await server.stop();
              },
            };
          },
        },
      ]
    : []),
];

for (const store of STORES)
  describe(`the activity record, in-process, on ${store.name}`, () => {
    let k: InProcess;
    let opened: Awaited<ReturnType<(typeof STORES)[number]['open']>>;
    before(async () => {
      opened = await store.open();
      k = await startApp({ env: { RATE_LIMIT_MANAGE: '0', METRICS_TOKEN }, ...(opened.kv ? { platform: { kv: opened.kv } } : {}) });
    });
    after(async () => {
      await k.close();
      await opened.close();
    });

    test('every message is recorded with its outcome; creator and key holder read it; the store holds no argument, result or secret', async () => {
      const created = await k.mustCreateEndpoint({ upstream_url: 'https://echo.example.com/mcp' });
      const endpoint = created.mcp_endpoint!;
      const grant = await k.authorize(endpoint);
      const other = await k.authorize(endpoint);
      // A ceiling that refuses `ask`: the grant's messages take the restricted exchange.
      const patched = await k.fetch(`/api/slugs/${created.slug}`, {
        method: 'PATCH',
        headers: { authorization: `Bearer ${created.manage_token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ tool_policy: { deny: ['ask'] } }),
      });
      assert.equal(patched.status, 200);

      const init = await k.mcp(endpoint, grant.accessToken, INITIALIZE);
      const session = { 'mcp-session-id': init.headers.get('mcp-session-id')! };
      await init.text();
      await (await k.mcp(endpoint, grant.accessToken, { jsonrpc: '2.0', method: 'notifications/initialized' }, session)).text();
      const echoed = await k.mcp(
        endpoint,
        grant.accessToken,
        { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'echo', arguments: { text: ARGUMENT } } },
        session,
      );
      assert.match(await echoed.text(), new RegExp(`echo: ${ARGUMENT}`));
      const asked = await k.mcp(
        endpoint,
        grant.accessToken,
        { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'ask', arguments: {} } },
        session,
      );
      assert.match(await asked.text(), /does not include the tool “ask”/);
      // Another access on the endpoint (made with the same key, so the key holder's too).
      await (await k.mcp(endpoint, other.accessToken, INITIALIZE)).text();
      await k.settle();

      const api = await k.fetch(`/api/slugs/${created.slug}/activity`, { headers: { authorization: `Bearer ${created.manage_token}` } });
      assert.equal(api.status, 200);
      const { activity } = (await api.json()) as { activity: Row[] };
      // initialize, notifications/initialized, two calls, and the other access's initialize.
      assert.equal(activity.length, 5, JSON.stringify(activity));
      assert.equal(new Set(activity.map((row) => row.access_id)).size, 2);
      const call = (tool: string) => activity.find((row) => row.method === 'tools/call' && row.tool === tool);
      assert.deepEqual(
        { status: call('echo')?.status, error_code: call('echo')?.error_code, client_name: call('echo')?.client_name },
        { status: 200, error_code: null, client_name: 'In-process Client' },
      );
      assert.deepEqual({ status: call('ask')?.status, error_code: call('ask')?.error_code }, { status: 200, error_code: -32602 });
      assert.ok(
        activity.every(
          (row) =>
            Object.keys(row).sort().join() === 'access_id,at,bytes_in,bytes_out,client_name,duration_ms,error_code,method,status,tool',
        ),
      );
      assert.ok(
        activity.every((row, i) => i === 0 || activity[i - 1]!.at >= row.at),
        'newest first',
      );

      const refusedOnly = (await (
        await k.fetch(`/api/slugs/${created.slug}/activity?outcome=refused`, {
          headers: { authorization: `Bearer ${created.manage_token}` },
        })
      ).json()) as { activity: Row[] };
      assert.deepEqual(
        refusedOnly.activity.map((row) => row.tool),
        ['ask'],
      );
      const byTool = (await (
        await k.fetch(`/api/slugs/${created.slug}/activity?tool=echo`, { headers: { authorization: `Bearer ${created.manage_token}` } })
      ).json()) as { activity: Row[] };
      assert.deepEqual(
        byTool.activity.map((row) => row.tool),
        ['echo'],
      );
      assert.equal((await k.fetch(`/api/slugs/${created.slug}/activity`)).status, 401);

      const holder = await k.fetch('/api/access/activity', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ endpoint, credentials: [KEY], tool: 'ask' }),
      });
      assert.equal(holder.status, 200);
      assert.deepEqual(
        ((await holder.json()) as { activity: Row[] }).activity.map((row) => [row.tool, row.error_code]),
        [['ask', -32602]],
      );
      const stranger = await k.fetch('/api/access/activity', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ endpoint, credentials: ['sk-not-the-key-000000000'] }),
      });
      assert.equal(stranger.status, 403);

      // The manage page: the record per access, filterable; the key holder's page: their accesses' record.
      const openedPage = await k.fetch(`/manage/${created.slug}`, {
        method: 'POST',
        headers: { 'sec-fetch-site': 'same-origin', origin: 'null', accept: 'text/html' },
        body: new URLSearchParams({ action: 'open', token: created.manage_token! }),
        redirect: 'manual',
      });
      const cookie = openedPage.headers.get('set-cookie')!.split(';')[0]!;
      const managed = parse(await (await k.fetch(`/manage/${created.slug}`, { headers: { cookie, accept: 'text/html' } })).text());
      assert.equal(managed.querySelectorAll('table.activity tbody tr').length, 5);
      assert.match(managed.querySelector('table.activity thead')!.text, /Bytes in \/ out/);
      assert.match(managed.querySelector('table.activity tbody tr')!.text, /\d+ B \/ \d+ B/);
      const filtered = parse(
        await (
          await k.fetch(`/manage/${created.slug}?outcome=refused&tool=&access_id=`, { headers: { cookie, accept: 'text/html' } })
        ).text(),
      );
      const refusedLines = filtered.querySelectorAll('table.activity tbody tr');
      assert.equal(refusedLines.length, 1);
      assert.match(refusedLines[0]!.text, /tools\/call\s*ask\s*200 refused/);
      const found = await k.fetch('/access', {
        method: 'POST',
        headers: { 'sec-fetch-site': 'same-origin', origin: 'null', accept: 'text/html' },
        body: new URLSearchParams({ action: 'find', endpoint, credential_0: KEY }),
        redirect: 'manual',
      });
      const holderCookie = found.headers.get('set-cookie')!.split(';')[0]!;
      const holderPage = parse(
        await (
          await k.fetch(found.headers.get('location') ?? '/access', { headers: { cookie: holderCookie, accept: 'text/html' } })
        ).text(),
      );
      assert.equal(holderPage.querySelectorAll('table.activity tbody tr').length, 5, holderPage.text.slice(0, 400));

      // Prometheus counters by outcome, and nothing of the message in them.
      const metrics = await (await k.fetch('/metrics', { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).text();
      assert.match(metrics, /key2oauth_mcp_messages_total\{outcome="refused"\} [1-9]/);
      assert.match(metrics, /key2oauth_mcp_messages_total\{outcome="ok"\} [1-9]/);
      assert.ok(!metrics.includes('echo') && !metrics.includes(ARGUMENT) && !metrics.includes(KEY));

      // The whole store, keys, values and metadata: nothing of the message's content or any secret.
      let dump = '';
      let cursor: string | undefined;
      do {
        const page = await k.platform.kv.list({ prefix: '', ...(cursor ? { cursor } : {}) });
        for (const key of page.keys) dump += `${key.name} ${JSON.stringify(key.metadata ?? null)} ${await k.platform.kv.get(key.name)}\n`;
        cursor = page.list_complete ? undefined : page.cursor;
      } while (cursor);
      assert.match(dump, /k2o:activity:/, 'the record is in the store');
      for (const secret of [
        ARGUMENT,
        `echo: ${ARGUMENT}`,
        KEY,
        grant.accessToken,
        grant.refreshToken,
        other.accessToken,
        created.manage_token!,
      ]) {
        assert.ok(!dump.includes(secret), `the store holds no ${secret.slice(0, 12)}…`);
      }
    });
  });

describe('ACTIVITY_RETENTION_DAYS=0, in-process', () => {
  test('records no entry (the record costs a store write per message), while the counters still count every message', async () => {
    const k = await startApp({ env: { ACTIVITY_RETENTION_DAYS: '0', METRICS_TOKEN } });
    try {
      const created = await k.mustCreateEndpoint({ upstream_url: 'https://echo.example.com/mcp' });
      const grant = await k.authorize(created.mcp_endpoint!);
      await (await k.mcp(created.mcp_endpoint!, grant.accessToken, INITIALIZE)).text();
      await k.settle();
      const listed = await k.platform.kv.list({ prefix: 'k2o:activity:' });
      assert.deepEqual(listed.keys, [], 'nothing written');
      const api = await k.fetch(`/api/slugs/${created.slug}/activity`, { headers: { authorization: `Bearer ${created.manage_token}` } });
      assert.deepEqual(((await api.json()) as { activity: unknown[] }).activity, []);
      const metrics = await (await k.fetch('/metrics', { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).text();
      assert.match(metrics, /key2oauth_mcp_messages_total\{outcome="ok"\} [1-9]/);
    } finally {
      await k.close();
    }
  });
});

/** The memory store, with every write of the activity record counted (the real store underneath). */
function countingStore(): { kv: Platform['kv']; activityWrites: () => number } {
  const { kv } = createMemoryStorage();
  let writes = 0;
  return {
    kv: {
      get: (key, type) => kv.get(key, type),
      put: (key, value, options) => {
        if (key.startsWith('k2o:activity:')) writes++;
        return kv.put(key, value, options);
      },
      delete: (key) => kv.delete(key),
      list: (options) => kv.list(options),
    },
    activityWrites: () => writes,
  };
}

const activityOf = async (k: InProcess, slug: string, manageToken: string, query = '') =>
  (
    (await (await k.fetch(`/api/slugs/${slug}/activity${query}`, { headers: { authorization: `Bearer ${manageToken}` } })).json()) as {
      activity: Row[];
    }
  ).activity;

describe('the activity record is cheap and complete, in-process', () => {
  test('messages are written as pages: one store write for many messages, and the readers see every one, newest first', async () => {
    const store = countingStore();
    const k = await startApp({ platform: { kv: store.kv } });
    try {
      const created = await k.mustCreateEndpoint({ upstream_url: 'https://echo.example.com/mcp' });
      const grant = await k.authorize(created.mcp_endpoint!);
      const init = await k.mcp(created.mcp_endpoint!, grant.accessToken, INITIALIZE);
      const session = { 'mcp-session-id': init.headers.get('mcp-session-id')! };
      await init.text();
      for (let id = 2; id < 32; id++) {
        const call = { jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'echo', arguments: { text: `n${id}` } } };
        await (await k.mcp(created.mcp_endpoint!, grant.accessToken, call, session)).text();
      }
      await k.settle();
      assert.ok(store.activityWrites() <= 2, `31 messages cost ${store.activityWrites()} store writes`);
      const activity = await activityOf(k, created.slug!, created.manage_token!);
      assert.equal(activity.length, 31);
      assert.ok(activity.every((row, i) => i === 0 || activity[i - 1]!.at >= row.at));
      assert.equal((await activityOf(k, created.slug!, created.manage_token!, '?tool=echo')).length, 30);
    } finally {
      await k.close();
    }
  });

  test('an access that may call every tool, without Mcp-Method headers: the method and tool come from the message; bytes each way', async () => {
    const k = await startApp();
    try {
      const created = await k.mustCreateEndpoint({ upstream_url: 'https://echo.example.com/mcp' });
      const grant = await k.authorize(created.mcp_endpoint!);
      const init = await k.mcp(created.mcp_endpoint!, grant.accessToken, INITIALIZE);
      const session = { 'mcp-session-id': init.headers.get('mcp-session-id')! };
      const initAnswer = await init.text();
      const call = { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'echo', arguments: { text: ARGUMENT } } };
      const answer = await (await k.mcp(created.mcp_endpoint!, grant.accessToken, call, session)).text();
      await k.settle();
      const activity = await activityOf(k, created.slug!, created.manage_token!);
      const called = activity.find((row) => row.method === 'tools/call');
      assert.ok(called, JSON.stringify(activity));
      assert.equal(called.tool, 'echo');
      assert.equal(called.bytes_in, Buffer.byteLength(JSON.stringify(call)));
      // The SSE answer's bytes, until the stream ended.
      assert.equal(called.bytes_out, Buffer.byteLength(answer));
      const initialized = activity.find((row) => row.method === 'initialize');
      assert.equal(initialized?.bytes_in, Buffer.byteLength(JSON.stringify(INITIALIZE)));
      assert.equal(initialized?.bytes_out, Buffer.byteLength(initAnswer));
      assert.ok(!activity.some((row) => row.method === 'unknown'));

      // A body of undeclared length (streamed as it arrives): named and counted all the same.
      const streamed = { jsonrpc: '2.0', id: 6, method: 'tools/call', params: { name: 'echo', arguments: { text: 'streamed' } } };
      const chunked = await k.fetch(created.mcp_endpoint!, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${grant.accessToken}`,
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          ...session,
        },
        body: new Blob([JSON.stringify(streamed)]).stream(),
        duplex: 'half',
      } as RequestInit);
      assert.match(await chunked.text(), /echo: streamed/);
      await k.settle();
      const [latest] = await activityOf(k, created.slug!, created.manage_token!);
      assert.deepEqual(
        [latest?.method, latest?.tool, latest?.bytes_in],
        ['tools/call', 'echo', Buffer.byteLength(JSON.stringify(streamed))],
      );

      // A batch: one entry per message; the first carries the exchange's bytes, the others none.
      const batch = [
        { jsonrpc: '2.0', id: 7, method: 'ping' },
        { jsonrpc: '2.0', id: 8, method: 'tools/call', params: { name: 'echo', arguments: { text: 'b' } } },
      ];
      await (await k.mcp(created.mcp_endpoint!, grant.accessToken, batch, session)).text();
      await k.settle();
      const [second, first] = (await activityOf(k, created.slug!, created.manage_token!)).slice(0, 2);
      assert.deepEqual(
        [first?.method, first?.bytes_in, second?.method, second?.tool, second?.bytes_in, second?.bytes_out],
        ['ping', Buffer.byteLength(JSON.stringify(batch)), 'tools/call', 'echo', null, null],
      );
    } finally {
      await k.close();
    }
  });

  test('legacy HTTP+SSE: each message posted to the message URL is recorded, and the stream with its bytes once it ends', async () => {
    const k = await startApp();
    try {
      serveLegacySse(k.upstreams, { url: 'https://legacy.example.com/sse', key: KEY });
      const created = await k.mustCreateEndpoint({ upstream_url: 'https://legacy.example.com/sse' });
      const grant = await k.authorize(created.mcp_endpoint!);
      const stream = await k.fetch(`/${created.slug}/sse`, {
        headers: { accept: 'text/event-stream', authorization: `Bearer ${grant.accessToken}` },
      });
      const events = sseReader(stream.body!);
      const url = new URL((await events.next()).data);
      assert.equal(url.origin, PUBLIC_URL);
      const post = (body: unknown) =>
        k.fetch(String(url), {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${grant.accessToken}` },
          body: JSON.stringify(body),
        });
      await (await post({ ...INITIALIZE, params: { ...INITIALIZE.params, protocolVersion: '2024-11-05' } })).body?.cancel();
      await events.next();
      const call = { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'echo', arguments: { text: ARGUMENT } } };
      const posted = await post(call);
      assert.equal(posted.status, 202);
      await posted.text();
      await events.next();
      await events.cancel();
      await k.settle();
      const activity = await activityOf(k, created.slug!, created.manage_token!);
      const called = activity.find((row) => row.method === 'tools/call');
      assert.deepEqual(
        { tool: called?.tool, status: called?.status, bytes_in: called?.bytes_in },
        { tool: 'echo', status: 202, bytes_in: Buffer.byteLength(JSON.stringify(call)) },
        JSON.stringify(activity),
      );
      assert.ok(activity.some((row) => row.method === 'initialize'));
      const opened = activity.find((row) => row.method === 'GET');
      assert.ok(opened && (opened.bytes_out ?? 0) > 0, 'the stream is recorded with the bytes it carried');
    } finally {
      await k.close();
    }
  });

  test(`at most ${MAX_PER_ENDPOINT} entries per endpoint: the readers get the newest, and the store keeps no more than a page beyond`, async () => {
    const k = await startApp();
    try {
      const slug = 'capped0000001';
      const base = Date.now() - 10_000;
      for (let i = 0; i < MAX_PER_ENDPOINT + 250; i++) {
        recordActivity(k.platform, slug, {
          at: base + i,
          access_id: 'g',
          method: 'tools/call',
          tool: `t${i}`,
          status: 200,
          error_code: null,
          duration_ms: 1,
          bytes_in: 10,
          bytes_out: 20,
        });
      }
      await flushActivity(k.platform);
      await k.settle();
      const listed = await listActivity(k.platform, slug);
      assert.equal(listed.length, MAX_PER_ENDPOINT);
      assert.equal(listed[0]!.tool, `t${MAX_PER_ENDPOINT + 249}`, 'newest first');
      assert.equal(listed.at(-1)!.tool, 't250');
      let stored = 0;
      const keys = await k.platform.kv.list({ prefix: `k2o:activity:${slug}:` });
      for (const key of keys.keys) stored += (key.metadata as { n: number }).n;
      assert.ok(stored <= MAX_PER_ENDPOINT + 100, `${stored} entries kept`);
    } finally {
      await k.close();
    }
  });
});

describe('the activity record written before pages, in-process', () => {
  test('an entry kept one key per message (its fields as the metadata) is still read, without bytes', async () => {
    const k = await startApp();
    try {
      const at = new Date().toISOString();
      await k.platform.kv.put(`k2o:activity:oldslug00001:${String(10 ** 15 - Date.parse(at)).padStart(15, '0')}:abcdefgh`, '1', {
        metadata: { at, access_id: 'g', client_id: 'c', method: 'tools/call', tool: 'echo', status: 200, error_code: null, duration_ms: 2 },
      });
      const listed = await listActivity(k.platform, 'oldslug00001');
      assert.deepEqual(listed, [
        {
          at,
          access_id: 'g',
          method: 'tools/call',
          tool: 'echo',
          status: 200,
          error_code: null,
          duration_ms: 2,
          bytes_in: null,
          bytes_out: null,
        },
      ]);
    } finally {
      await k.close();
    }
  });
});
