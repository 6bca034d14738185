import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { listActivity } from '../../src/activity/store.ts';
import { createSqliteStorage } from '../../src/adapters/node/sqlite.ts';
import { exchangeCode } from '../../src/cli/oauth-client.ts';
import type { Platform } from '../../src/platform.ts';
import { mustCreateEndpoint } from '../support/api.ts';
import { Browser } from '../support/browser.ts';
import { carriers } from '../support/carriers.ts';
import { type McpUpstream, startMcpUpstream } from '../support/mcp-upstream.ts';
import { approveInBrowser, TestOAuthProvider } from '../support/oauth-client.ts';
import { startAuthorization } from '../support/security.ts';
import type { Running } from '../support/targets.ts';
import { sseReader } from '../support/transport-helpers.ts';

/**
 * The activity record on every carrier (the Node fast path, the app on Node, the Worker), with
 * real MCP SDK upstreams and raw clients that send no `Mcp-Method` header: each message recorded
 * with its method and tool (read from the message), its outcome and its bytes each way, for an
 * access that may call every tool, for one restricted to a chosen tool (whose calls the Node fast
 * path judges itself), and for legacy HTTP+SSE messages; on Node, nothing gathered is lost when the
 * server stops.
 */

const KEY = 'sk-activity-e2e-0123456789abcdef';
const ENV = {
  RATE_LIMIT_AUTHORIZE: '1000/600',
  RATE_LIMIT_AUTHORIZE_ENDPOINT: '1000/600',
  RATE_LIMIT_REGISTER: '1000/600',
  // workerd learns that a client left a stream only when it writes to it: a heartbeat a second.
  SSE_HEARTBEAT_SECONDS: '1',
};

interface Row {
  at: string;
  access_id: string;
  method: string;
  tool: string | null;
  status: number;
  error_code: number | null;
  bytes_in: number | null;
  bytes_out: number | null;
}

async function tokenFor(server: Running, endpoint: string, fields: Record<string, string | string[]> = {}): Promise<string> {
  const provider = new TestOAuthProvider();
  const code = await approveInBrowser(new Browser(), await startAuthorization(endpoint, provider), KEY, fields);
  const answer = await exchangeCode(fetch, `${server.url}/oauth/token`, {
    code,
    verifier: provider.verifier,
    clientId: provider.information!.client_id,
    redirectUri: provider.redirectUrl,
    resource: endpoint,
  });
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  return (answer.body as { access_token: string }).access_token;
}

const INITIALIZE = {
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
};
const CALL = { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'echo', arguments: { text: 'argument-value-e2e' } } };

const post = (endpoint: string, token: string, message: unknown, headers: Record<string, string> = {}) =>
  fetch(endpoint, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${token}`,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      ...headers,
    },
    body: JSON.stringify(message),
  });

for (const carrier of carriers()) {
  describe(`the activity record on ${carrier.name}`, { timeout: 180_000 }, () => {
    let server: Running;
    let upstream: McpUpstream;
    let legacy: McpUpstream;
    const dataDir = mkdtempSync(join(tmpdir(), 'key2oauth-activity-e2e-'));
    before(async () => {
      server = await carrier.start(carrier.node ? { ...ENV, DATA_DIR: dataDir } : ENV);
      upstream = await startMcpUpstream({ key: KEY, mode: 'stateful-sse' });
      legacy = await startMcpUpstream({ key: KEY, mode: 'legacy-sse' });
    });
    after(async () => {
      await server?.stop();
      await upstream?.close();
      await legacy?.close();
    });

    /** The record as the creator reads it, once the entries of this process (or isolate) are written. */
    const activity = async (slug: string, manageToken: string, expect: (rows: Row[]) => boolean): Promise<Row[]> => {
      let rows: Row[] = [];
      for (const deadline = Date.now() + 8000; Date.now() < deadline; ) {
        const answer = await fetch(`${server.url}/api/slugs/${slug}/activity`, { headers: { authorization: `Bearer ${manageToken}` } });
        assert.equal(answer.status, 200);
        rows = ((await answer.json()) as { activity: Row[] }).activity;
        if (expect(rows)) return rows;
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
      return rows;
    };

    test('every message with its method, tool and bytes, for an access to every tool and for a restricted one', async () => {
      const created = await mustCreateEndpoint(server, { upstream_url: upstream.url });
      const endpoint = created.mcp_endpoint!;
      const all = await tokenFor(server, endpoint);
      const chosen = await tokenFor(server, endpoint, { tools: 'chosen', tool: ['echo'] });

      const sizes: Record<string, { in: number; out: number }> = {};
      for (const [name, token] of [
        ['all', all],
        ['chosen', chosen],
      ] as const) {
        const init = await post(endpoint, token, INITIALIZE);
        const session = { 'mcp-session-id': init.headers.get('mcp-session-id')! };
        await init.text();
        await (await post(endpoint, token, { jsonrpc: '2.0', method: 'notifications/initialized' }, session)).text();
        const called = await post(endpoint, token, CALL, session);
        const answer = await called.text();
        assert.match(answer, /echo: argument-value-e2e/);
        sizes[name] = { in: Buffer.byteLength(JSON.stringify(CALL)), out: Buffer.byteLength(answer) };
        const refused = await post(
          endpoint,
          token,
          { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: name === 'all' ? 'no_such_tool' : 'ask', arguments: {} } },
          session,
        );
        await refused.text();
      }
      const rows = await activity(created.slug!, created.manage_token!, (found) => found.length >= 8);
      assert.equal(rows.length, 8, JSON.stringify(rows));
      assert.ok(!rows.some((row) => row.method === 'unknown'), JSON.stringify(rows));
      const calls = rows.filter((row) => row.method === 'tools/call' && row.tool === 'echo');
      assert.equal(calls.length, 2, JSON.stringify(rows));
      for (const call of calls) {
        assert.equal(call.status, 200);
        assert.equal(call.bytes_in, sizes.all!.in);
        // An SSE answer: its bytes until the stream ended (the same tool, the same text).
        assert.ok(call.bytes_out! >= sizes.all!.out - 64 && call.bytes_out! <= sizes.all!.out + 64, JSON.stringify(call));
      }
      const refusal = rows.find((row) => row.tool === 'ask');
      assert.deepEqual([refusal?.status, refusal?.error_code], [200, -32602], JSON.stringify(rows));
      assert.ok((refusal?.bytes_out ?? 0) > 0);
      assert.ok(rows.some((row) => row.method === 'notifications/initialized'));
      assert.ok(
        rows.some((row) => row.tool === 'no_such_tool'),
        'the unrestricted access’s call is recorded as the app named it',
      );
    });

    test('legacy HTTP+SSE: each message posted to the message URL is recorded', async () => {
      const created = await mustCreateEndpoint(server, { upstream_url: legacy.url });
      const token = await tokenFor(server, created.mcp_endpoint!);
      const stream = await fetch(`${server.url}/${created.slug}/sse`, {
        headers: { accept: 'text/event-stream', authorization: `Bearer ${token}` },
      });
      assert.equal(stream.status, 200);
      const events = sseReader(stream.body!);
      try {
        const url = (await events.next()).data;
        const send = async (message: unknown) => {
          const answer = await post(url, token, message);
          await answer.text();
          return answer.status;
        };
        assert.equal(await send({ ...INITIALIZE, params: { ...INITIALIZE.params, protocolVersion: '2024-11-05' } }), 202);
        await events.next();
        assert.equal(await send({ jsonrpc: '2.0', method: 'notifications/initialized' }), 202);
        assert.equal(await send(CALL), 202);
        assert.match((await events.next()).data, /echo: argument-value-e2e/);
      } finally {
        await events.cancel();
      }
      const rows = await activity(created.slug!, created.manage_token!, (found) => found.some((row) => row.method === 'GET'));
      const call = rows.find((row) => row.method === 'tools/call');
      assert.deepEqual(
        [call?.tool, call?.status, call?.bytes_in],
        ['echo', 202, Buffer.byteLength(JSON.stringify(CALL))],
        JSON.stringify(rows),
      );
      assert.ok(rows.some((row) => row.method === 'initialize'));
      assert.ok(
        rows.some((row) => row.method === 'GET' && (row.bytes_out ?? 0) > 0),
        'the stream, with the bytes it carried',
      );
    });

    if (carrier.node)
      test('a clean stop writes what was gathered: nothing is lost', async () => {
        const created = await mustCreateEndpoint(server, { upstream_url: upstream.url });
        const token = await tokenFor(server, created.mcp_endpoint!);
        for (let i = 0; i < 5; i++) await (await post(created.mcp_endpoint!, token, { ...INITIALIZE, id: i })).text();
        // At once, within the page's second: the server's close writes it.
        await server.stop();
        const storage = createSqliteStorage(join(dataDir, 'key2oauth.db'));
        try {
          const entries = await listActivity({ kv: storage.kv } as Platform, created.slug!);
          assert.equal(entries.filter((entry) => entry.method === 'initialize').length, 5, JSON.stringify(entries));
        } finally {
          await storage.close();
        }
        server = await carrier.start({ ...ENV, DATA_DIR: dataDir });
      });
  });
}
