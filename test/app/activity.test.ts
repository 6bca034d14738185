import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse } from 'node-html-parser';
import { createRedisStorage } from '../../src/adapters/node/redis.ts';
import { createSqliteStorage } from '../../src/adapters/node/sqlite.ts';
import type { ActivityRow } from '../../src/manage/activity-view.ts';
import type { Platform } from '../../src/platform.ts';
import { INITIALIZE, type InProcess, KEY, startApp } from '../support/in-process.ts';
import { redisAvailable, startRedis } from '../support/redis-server.ts';

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
        activity.every((row) => Object.keys(row).sort().join() === 'access_id,at,client_name,duration_ms,error_code,method,status,tool'),
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
