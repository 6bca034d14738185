import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import { mustCreateEndpoint } from '../support/api.ts';
import { Browser, Page } from '../support/browser.ts';
import { carriers } from '../support/carriers.ts';
import { approveInBrowser, TestOAuthProvider } from '../support/oauth-client.ts';
import type { Running } from '../support/targets.ts';
import { startToolsUpstream, type ToolsUpstream } from '../support/tools-upstream.ts';

/**
 * The key holder's choice of tools (docs/tools-and-activity.md), through the whole flow with a
 * real MCP SDK client and a real SDK server that has read-only, destructive and unmarked tools and
 * a paginated `tools/list`, on every carrier (the Node fast path, the app on Node, the Worker),
 * with JSON and with SSE answers: each choice filters every page of `tools/list`, a call of any
 * other tool is refused with a JSON-RPC error and never reaches the upstream, batches are judged
 * message by message, and a tool the upstream adds later is judged as the choice says.
 */

const KEY = 'sk-tool-choice-0123456789abcdef';
const ENV = { RATE_LIMIT_AUTHORIZE: '1000/600', RATE_LIMIT_AUTHORIZE_ENDPOINT: '1000/600', RATE_LIMIT_REGISTER: '1000/600' };

type Fields = Record<string, string | string[]>;

async function connect(endpoint: string, fields: Fields): Promise<{ client: Client; provider: TestOAuthProvider }> {
  const provider = new TestOAuthProvider();
  const first = new StreamableHTTPClientTransport(new URL(endpoint), { authProvider: provider });
  await new Client({ name: 'tool-choice', version: '1' }).connect(first).then(
    () => assert.fail('connected without authorization'),
    (error) => {
      if (!(error instanceof UnauthorizedError)) throw error;
    },
  );
  const code = await approveInBrowser(new Browser(), provider.authorizationUrl!, KEY, fields);
  await first.finishAuth(code);
  const client = new Client({ name: 'tool-choice', version: '1' });
  await client.connect(new StreamableHTTPClientTransport(new URL(endpoint), { authProvider: provider }));
  return { client, provider };
}

/** Every page of `tools/list`, with how many pages there were. */
async function allTools(client: Client): Promise<{ names: string[]; pages: number }> {
  const names: string[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const page = await client.listTools(cursor ? { cursor } : {});
    pages++;
    names.push(...page.tools.map((tool) => tool.name));
    cursor = page.nextCursor;
  } while (cursor);
  return { names: names.sort(), pages };
}

async function refused(client: Client, name: string): Promise<McpError> {
  try {
    await client.callTool({ name, arguments: { id: 'argument-value-91c2' } });
  } catch (error) {
    assert.ok(error instanceof McpError, String(error));
    return error;
  }
  return assert.fail(`${name} was not refused`);
}

const CHOICES: { name: string; fields: Fields; allowed: string[]; refused: string[] }[] = [
  {
    name: 'all',
    fields: { tools: 'all' },
    allowed: ['delete_item', 'get_item', 'search_docs', 'search_secrets', 'update_item'],
    refused: [],
  },
  {
    name: 'read_only',
    fields: { tools: 'read_only' },
    allowed: ['get_item', 'search_docs', 'search_secrets'],
    refused: ['delete_item', 'update_item'],
  },
  {
    name: 'chosen',
    fields: { tools: 'chosen', tool: ['get_item', 'delete_item'] },
    allowed: ['delete_item', 'get_item'],
    refused: ['search_docs', 'update_item', 'search_secrets'],
  },
];

for (const carrier of carriers()) {
  describe(`tool choice on ${carrier.name}`, { timeout: 240_000 }, () => {
    let server: Running;
    const upstreams: Record<'json' | 'sse', ToolsUpstream> = {} as never;
    const endpoints: Record<string, string> = {};
    const manageTokens: Record<string, string> = {};

    const dataDir = mkdtempSync(join(tmpdir(), 'key2oauth-tools-'));
    before(async () => {
      server = await carrier.start(carrier.node ? { ...ENV, DATA_DIR: dataDir } : ENV);
      for (const answers of ['json', 'sse'] as const) {
        upstreams[answers] = await startToolsUpstream({ key: KEY, answers });
        const created = await mustCreateEndpoint(server, {
          upstream_url: upstreams[answers].url,
          auth_header_name: 'Authorization',
          auth_header_prefix: 'Bearer',
        });
        endpoints[answers] = created.mcp_endpoint!;
        manageTokens[answers] = created.manage_token!;
      }
    });
    after(async () => {
      await server?.stop();
      for (const upstream of Object.values(upstreams)) await upstream.close();
    });

    for (const answers of ['json', 'sse'] as const) {
      for (const choice of CHOICES) {
        test(`${choice.name}, ${answers} answers: tools/list filtered on every page, other calls refused before the upstream`, async () => {
          const upstream = upstreams[answers];
          upstream.calls.length = 0;
          const { client } = await connect(endpoints[answers]!, choice.fields);
          const listed = await allTools(client);
          assert.deepEqual(listed.names, choice.allowed);
          if (choice.name === 'chosen') {
            // The choice is shown wherever the access is listed.
            const grants = (await (
              await fetch(`${server.url}/api/slugs/${new URL(endpoints[answers]!).pathname.split('/')[1]}/grants`, {
                headers: { authorization: `Bearer ${manageTokens[answers]}` },
              })
            ).json()) as { grants: { tools: string }[] };
            assert.ok(
              grants.grants.some((grant) => grant.tools === 'only get_item, delete_item'),
              JSON.stringify(grants),
            );
          }
          assert.equal(listed.pages, 3, 'every page of the upstream list is passed on');
          for (const name of choice.allowed) {
            const result = await client.callTool({ name, arguments: { note: 'argument-value-91c2' } });
            assert.match(JSON.stringify(result.content), new RegExp(`result of ${name}`));
          }
          for (const name of choice.refused) {
            const before = upstream.calls.length;
            const error = await refused(client, name);
            assert.equal(error.code, -32602);
            assert.match(error.message, new RegExp(`does not include the tool “${name}”`));
            assert.match(error.message, /sign in to this endpoint again/);
            assert.equal(upstream.calls.length, before, `${name} never reached the upstream`);
            assert.ok(!upstream.calls.some((call) => call.name === name));
          }
          await client.close();
        });
      }

      test(`a batch under read_only, ${answers} answers: the refused call answered here, the list filtered`, async () => {
        const upstream = upstreams[answers];
        upstream.calls.length = 0;
        const { client, provider } = await connect(endpoints[answers]!, { tools: 'read_only' });
        await client.close();
        const response = await fetch(endpoints[answers]!, {
          method: 'POST',
          headers: {
            authorization: `Bearer ${provider.savedTokens!.access_token}`,
            'content-type': 'application/json',
            accept: 'application/json, text/event-stream',
          },
          body: JSON.stringify([
            { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'delete_item', arguments: { id: 'batch-arg' } } },
            { jsonrpc: '2.0', id: 2, method: 'tools/list', params: {} },
            { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'get_item', arguments: {} } },
          ]),
        });
        assert.equal(response.status, 200);
        const text = await response.text();
        const messages: { id: number; result?: { tools?: { name: string }[] }; error?: { code: number } }[] = (
          (response.headers.get('content-type') ?? '').startsWith('text/event-stream')
            ? text
                .split('\n')
                .filter((line) => line.startsWith('data: '))
                .map((line) => JSON.parse(line.slice(6)))
            : JSON.parse(text)
        ).flat();
        const byId = new Map(messages.map((message) => [message.id, message]));
        assert.equal(byId.get(1)?.error?.code, -32602);
        assert.deepEqual(
          byId.get(2)?.result?.tools?.map((tool) => tool.name),
          ['search_docs', 'get_item'],
        );
        assert.ok(byId.get(3)?.result, 'the allowed call in the batch went through');
        assert.ok(!upstream.calls.some((call) => call.name === 'delete_item'));
      });
    }

    test('a tool the upstream adds later: in an all grant, judged by its annotations in read_only, not in chosen', async () => {
      const upstream = upstreams.sse;
      upstream.calls.length = 0;
      const grants = {
        all: (await connect(endpoints.sse!, { tools: 'all' })).client,
        read_only: (await connect(endpoints.sse!, { tools: 'read_only' })).client,
        chosen: (await connect(endpoints.sse!, { tools: 'chosen', tool: ['get_item'] })).client,
      };
      upstream.addTool({ name: 'search_new', inputSchema: { type: 'object' }, annotations: { readOnlyHint: true } });
      upstream.addTool({ name: 'wipe_all', inputSchema: { type: 'object' }, annotations: { destructiveHint: true } });
      try {
        const all = (await allTools(grants.all)).names;
        assert.ok(all.includes('search_new') && all.includes('wipe_all'));
        const readOnly = (await allTools(grants.read_only)).names;
        assert.ok(readOnly.includes('search_new') && !readOnly.includes('wipe_all'));
        assert.ok((await grants.read_only.callTool({ name: 'search_new', arguments: {} })).content);
        await refused(grants.read_only, 'wipe_all');
        assert.deepEqual((await allTools(grants.chosen)).names, ['get_item']);
        await refused(grants.chosen, 'search_new');
        assert.ok(!upstream.calls.some((call) => call.name === 'wipe_all'));
        assert.equal(upstream.calls.filter((call) => call.name === 'search_new').length, 1);
      } finally {
        upstream.tools.splice(-2);
        for (const client of Object.values(grants)) await client.close();
      }
    });

    test('a call under read_only before any tools/list is judged by the upstream’s own list', async () => {
      const upstream = upstreams.json;
      upstream.calls.length = 0;
      const { client, provider } = await connect(endpoints.json!, { tools: 'read_only' });
      await client.close();
      const call = (name: string, id: number) =>
        fetch(endpoints.json!, {
          method: 'POST',
          headers: {
            authorization: `Bearer ${provider.savedTokens!.access_token}`,
            'content-type': 'application/json',
            accept: 'application/json, text/event-stream',
          },
          body: JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: {} } }),
        }).then((response) => response.json() as Promise<{ result?: unknown; error?: { code: number } }>);
      // search_secrets is on the upstream's third page.
      assert.ok((await call('search_secrets', 7)).result);
      assert.equal((await call('delete_item', 8)).error?.code, -32602);
      assert.ok(!upstream.calls.some((c) => c.name === 'delete_item'));
    });

    test('a large call (over 64 KiB, named off its bytes) is judged as the upstream will read it', async () => {
      const upstream = upstreams.json;
      upstream.calls.length = 0;
      const tokens = {
        chosen: (await connect(endpoints.json!, { tools: 'chosen', tool: ['get_item', 'delete_item'] })).provider.savedTokens!.access_token,
        read_only: (await connect(endpoints.json!, { tools: 'read_only' })).provider.savedTokens!.access_token,
      };
      const filler = `"${'argument-value-91c2 '.repeat(10_000)}"`;
      const send = async (token: string, id: string, text: string) => {
        const answer = await fetch(endpoints.json!, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
          body: text,
        });
        assert.equal(answer.status, 200);
        const message = (await answer.json()) as { id: unknown; result?: { content: { text: string }[] }; error?: { code: number } };
        assert.equal(message.id, id, 'the answer carries the call’s own id');
        return message;
      };
      const call = (id: string, params: string, head = '') =>
        `{"jsonrpc":"2.0",${head}"id":"${id}","method":"tools/call","params":${params}}`;
      const cases: { grant: keyof typeof tokens; text: string; runs?: string }[] = [
        { grant: 'chosen', text: call('l1', `{"name":"get_item","arguments":{"note":${filler}}}`), runs: 'get_item' },
        { grant: 'chosen', text: call('l2', `{"name":"update_item","arguments":{"note":${filler}}}`) },
        // An escaped name: the reader leaves it to the parse, which reads `update_item`.
        { grant: 'chosen', text: call('l3', `{"name":"upd\\u0061te_item","arguments":{"note":${filler}}}`) },
        { grant: 'chosen', text: call('l4', `{"name":"get\\u005fitem","arguments":{"note":${filler}}}`), runs: 'get_item' },
        // read_only before any tools/list: annotations asked of the upstream (the app's exchange on Node).
        { grant: 'read_only', text: call('l9', `{"name":"delete_item","arguments":{"note":${filler}}}`) },
        { grant: 'read_only', text: call('l10', `{"name":"search_secrets","arguments":{"note":${filler}}}`), runs: 'search_secrets' },
      ];
      for (const { grant, text, runs } of cases) {
        assert.ok(text.length > 128 * 1024);
        const id = (JSON.parse(text) as { id: string }).id;
        const before = upstream.calls.length;
        const answer = await send(tokens[grant], id, text);
        if (runs) {
          assert.match(answer.result?.content[0]?.text ?? '', new RegExp(`result of ${runs}`), `${id}: ${JSON.stringify(answer)}`);
          assert.deepEqual(
            upstream.calls.slice(before).map((made) => made.name),
            [runs],
          );
        } else {
          assert.equal(answer.error?.code, -32602, `${id} is refused: ${JSON.stringify(answer).slice(0, 200)}`);
          assert.equal(upstream.calls.length, before, `${id} never reached the upstream`);
        }
      }
    });

    test('a body not read one way is refused and never sent up: not one JSON value (-32700), or a judged name twice (-32600)', async () => {
      const upstream = upstreams.json;
      const token = (await connect(endpoints.json!, { tools: 'chosen', tool: ['get_item', 'delete_item'] })).provider.savedTokens!
        .access_token;
      const call = (id: string, name: string) =>
        JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: { note: 'argument-value-91c2' } } });
      const large = (text: string) => text.replace('argument-value-91c2', 'argument-value-91c2 '.repeat(5_000));
      // The test upstream reads only a body's first JSON value, as a server decoding with Go's json.Decoder does.
      const bodies: [string, number][] = [
        [`${call('p1', 'update_item')} trailing`, -32700],
        [`${call('p2', 'update_item')}${JSON.stringify({ jsonrpc: '2.0', id: 'p3', method: 'ping' })}`, -32700],
        [`${call('p4', 'get_item')},`, -32700],
        // Large enough to be read off its bytes first (the reader declines it, then the parse fails).
        [`${large(call('p5', 'update_item'))}]`, -32700],
        // JSON.parse keeps the last of a repeated name; a server keeping the first would run another tool.
        [call('r1', 'delete_item').replace('"name":"delete_item"', '"name":"update_item","name":"delete_item"'), -32600],
        [call('r2', 'get_item').replace('"name":"get_item"', '"name":"get_item","n\\u0061me":"get_item"'), -32600],
        [call('r3', 'get_item').replace('"params":', '"params":{"name":"update_item"},"params":'), -32600],
        [call('r4', 'update_item').replace('"method":"tools/call"', '"method":"tools/call","method":"ping"'), -32600],
        [`[${call('r5', 'get_item')},${call('r6', 'delete_item').replace('"params":', '"params":{},"params":')}]`, -32600],
        [large(call('r7', 'update_item')).replace('"name":"update_item"', '"name":"update_item","name":"get_item"'), -32600],
      ];
      for (const [body, code] of bodies) {
        upstream.calls.length = 0;
        upstream.methods.length = 0;
        const answer = await fetch(endpoints.json!, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
          body,
        });
        assert.equal(answer.status, 400, body.slice(0, 80));
        assert.equal(((await answer.json()) as { error: { code: number } }).error.code, code, body.slice(0, 80));
        assert.deepEqual(upstream.methods, [], `nothing of ${body.slice(0, 60)} reached the upstream`);
      }
      // The same trailing bytes on an unrestricted grant are the upstream's to judge: relayed as sent.
      const all = (await connect(endpoints.json!, { tools: 'all' })).provider.savedTokens!.access_token;
      upstream.calls.length = 0;
      await fetch(endpoints.json!, {
        method: 'POST',
        headers: { authorization: `Bearer ${all}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
        body: bodies[0]![0],
      }).then((answer) => answer.body?.cancel());
      assert.deepEqual(
        upstream.calls.map((made) => made.name),
        ['update_item'],
      );
    });

    test('the creator’s ceiling narrows existing grants at once, and lifting it restores them', async () => {
      const upstream = upstreams.json;
      upstream.calls.length = 0;
      const all = (await connect(endpoints.json!, { tools: 'all' })).client;
      const chosen = (await connect(endpoints.json!, { tools: 'chosen', tool: ['get_item', 'delete_item'] })).client;
      assert.equal((await allTools(all)).names.length, 5);
      const patch = (tool_policy: unknown) =>
        fetch(`${server.url}/api/slugs/${new URL(endpoints.json!).pathname.split('/')[1]}`, {
          method: 'PATCH',
          headers: { authorization: `Bearer ${manageTokens.json}`, 'content-type': 'application/json' },
          body: JSON.stringify({ tool_policy }),
        });
      const bad = await patch({ allow: 'search_*' });
      assert.equal(bad.status, 400);
      const set = await patch({ allow: ['search_*', 'get_*'], deny: ['search_secrets'] });
      assert.equal(set.status, 200);
      assert.deepEqual(((await set.json()) as { tool_policy: unknown }).tool_policy, {
        allow: ['search_*', 'get_*'],
        deny: ['search_secrets'],
      });
      // On this process at once; the Worker's KV and other replicas within the ceiling's short memo.
      await new Promise((resolve) => setTimeout(resolve, carrier.node ? 0 : 1600));
      assert.deepEqual((await allTools(all)).names, ['get_item', 'search_docs']);
      await refused(all, 'delete_item');
      await refused(all, 'search_secrets');
      assert.deepEqual((await allTools(chosen)).names, ['get_item']);
      await refused(chosen, 'delete_item');
      assert.equal(upstream.calls.length, 0, 'no refused call reached the upstream');
      assert.equal((await patch(null)).status, 200);
      await new Promise((resolve) => setTimeout(resolve, carrier.node ? 0 : 1600));
      assert.equal((await allTools(all)).names.length, 5);
      assert.deepEqual((await allTools(chosen)).names, ['delete_item', 'get_item']);
      await all.close();
      await chosen.close();
    });

    test('activity: every call with its outcome, for the creator; no argument, result or secret in the store', async () => {
      const rows = async (query = '') => {
        const answer = await fetch(`${server.url}/api/slugs/${new URL(endpoints.json!).pathname.split('/')[1]}/activity${query}`, {
          headers: { authorization: `Bearer ${manageTokens.json}` },
        });
        assert.equal(answer.status, 200);
        return ((await answer.json()) as { activity: { method: string; tool: string | null; status: number; error_code: number | null }[] })
          .activity;
      };
      // Written off the request's path: give the last writes a moment.
      await new Promise((resolve) => setTimeout(resolve, 300));
      const refusedRows = await rows('?outcome=refused');
      assert.ok(refusedRows.length >= 4, JSON.stringify(refusedRows));
      assert.ok(refusedRows.every((row) => row.method === 'tools/call' && row.error_code === -32602 && row.status === 200));
      for (const tool of ['delete_item', 'update_item', 'search_docs', 'search_secrets']) {
        assert.ok(
          refusedRows.some((row) => row.tool === tool),
          `the refused ${tool} is recorded`,
        );
      }
      const all = await rows();
      assert.ok(all.some((row) => row.method === 'tools/call' && row.tool === 'get_item' && row.status === 200 && row.error_code === null));
      assert.ok(all.some((row) => row.method === 'tools/list'));
      if (!carrier.node) return;
      let dump = '';
      for (const file of readdirSync(dataDir)) dump += readFileSync(join(dataDir, file), 'latin1');
      assert.match(dump, /k2o:activity:/);
      for (const secret of [KEY, 'argument-value-91c2', 'upstream-result-7f3a'])
        assert.ok(!dump.includes(secret), `the store holds no ${secret}`);
    });

    test('the consent page: the choice offered, then the upstream’s tools listed after the key check to tick (second step)', async () => {
      const provider = new TestOAuthProvider();
      const first = new StreamableHTTPClientTransport(new URL(endpoints.sse!), { authProvider: provider });
      await new Client({ name: 'x', version: '1' }).connect(first).catch(() => {});
      const browser = new Browser();
      const page = await browser.get(provider.authorizationUrl!);
      assert.match(page.body, /name="tools" value="all" checked/);
      assert.match(page.body, /name="tools" value="read_only"/);
      assert.match(page.body, /name="tools" value="chosen"/);
      const nonsense = await browser.submit(page, { api_key: KEY, tools: 'everything' }, { name: 'action', value: 'approve' });
      assert.equal(nonsense.status, 400);
      assert.match(await nonsense.text(), /Choose which tools the app may use/);

      const fresh = await browser.get(provider.authorizationUrl!);
      const step = await browser.submit(fresh, { api_key: KEY, tools: 'chosen' }, { name: 'action', value: 'approve' });
      assert.equal(step.status, 200);
      const listing = await step.text();
      assert.ok(!listing.includes(KEY), 'the key is not put back on the page');
      for (const name of ['search_docs', 'get_item', 'delete_item', 'update_item', 'search_secrets']) {
        assert.match(listing, new RegExp(`name="tool" value="${name}"`));
      }
      assert.match(listing, /<code>delete_item<\/code> <strong class="warning">destructive<\/strong> — Deletes an item/);
      assert.match(listing, /<code>search_docs<\/code> <span class="muted">read-only<\/span>/);
      const stepPage = new Page(step.url, step, listing);
      const approved = await browser.submit(
        stepPage,
        { api_key: KEY, tools: 'chosen', tool: ['search_docs'] },
        { name: 'action', value: 'approve' },
      );
      assert.equal(approved.status, 302);
      await first.finishAuth(new URL(approved.headers.get('location')!).searchParams.get('code')!);
      const client = new Client({ name: 'x', version: '1' });
      await client.connect(new StreamableHTTPClientTransport(new URL(endpoints.sse!), { authProvider: provider }));
      assert.deepEqual((await allTools(client)).names, ['search_docs']);
      await client.close();
    });
  });
}
