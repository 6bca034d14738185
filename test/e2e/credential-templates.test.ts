import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { createEndpoint } from '../support/api.ts';
import { inBasic, inHeaders, inQuery } from '../support/expects-key.ts';
import { type McpUpstream, startMcpUpstream, type UpstreamMode } from '../support/mcp-upstream.ts';
import type { TestOAuthProvider } from '../support/oauth-client.ts';
import { type Running, targets } from '../support/targets.ts';
import { authorize, connectStreamable } from '../support/transport-helpers.ts';

/**
 * Credential templates end to end (issue 18, items 1–3), on Node and the Worker: real MCP SDK
 * servers that take their credential in the query, in two headers, or as HTTP Basic, each reached
 * by a real SDK client through the whole flow (discovery, registration, consent, tokens), over
 * Streamable HTTP with streamed progress and over legacy SSE. The query key is then looked for in
 * everything the deployment printed or answered: it must be nowhere.
 */

const QUERY_KEY = 'qk-live-LEAKCHECK-0123456789abcdef';
const KEY = 'sk-two-0123456789abcdef';
const ACCOUNT = 'acct-2386';
const METRICS = 'metrics-token-0123456789abcdef';

type Text = { content: { type: string; text: string }[] };

/** A fetch that keeps every header line and body text the client received, for the leak scan. */
function recordingFetch(seen: string[]): typeof fetch {
  return async (input, init) => {
    const response = await fetch(input, init);
    response.headers.forEach((value, name) => {
      seen.push(`${name}: ${value}`);
    });
    return response;
  };
}

/** Streams `steps` progress notifications, each released only once the one before reached the client. */
async function streamedProgress(client: Client, upstream: McpUpstream, steps: number) {
  const seen: number[] = [];
  const result = (await client.callTool({ name: 'progress', arguments: { steps } }, undefined, {
    timeout: 20_000,
    onprogress: ({ progress }) => {
      seen.push(progress);
      upstream.release(`progress-${progress + 1}`);
    },
  })) as Text;
  assert.equal(result.content[0]!.text, `done after ${steps} steps`);
  assert.deepEqual(
    seen,
    Array.from({ length: steps }, (_, i) => i + 1),
  );
}

const CASES: {
  name: string;
  mode: UpstreamMode;
  expects: ReturnType<typeof inQuery>;
  credentials: unknown[];
  fields: string | Record<string, string>;
}[] = [
  {
    name: 'a query-key upstream',
    mode: 'stateful-sse',
    expects: inQuery('api_key', QUERY_KEY),
    credentials: [{ label: 'Exa key', in: 'query', name: 'api_key' }],
    fields: QUERY_KEY,
  },
  {
    name: 'a two-header upstream',
    mode: 'stateful-sse',
    expects: inHeaders({ 'x-api-key': KEY, 'x-account-id': ACCOUNT }),
    credentials: [
      { label: 'API key', in: 'header', name: 'X-Api-Key' },
      { label: 'Account id', in: 'header', name: 'X-Account-Id' },
    ],
    fields: { credential_0: KEY, credential_1: ACCOUNT },
  },
  {
    name: 'a Basic upstream',
    mode: 'stateful-sse',
    expects: inBasic('alice', KEY),
    credentials: [{ in: 'basic_user' }, { in: 'basic_password' }],
    fields: { credential_0: 'alice', credential_1: KEY },
  },
];

for (const target of targets()) {
  describe(`credential templates with real SDK clients and servers (${target.name})`, () => {
    let server: Running;
    const upstreams: McpUpstream[] = [];
    /** Every header line any client here received. */
    const received: string[] = [];
    before(async () => {
      server = await target.start({ LOG_LEVEL: 'debug', METRICS_TOKEN: METRICS });
    });
    after(async () => {
      await server?.stop();
      for (const upstream of upstreams) await upstream.close();
    });

    for (const each of CASES) {
      test(`${each.name}: the whole flow, a tool call and streamed progress, every request carrying the credential`, async () => {
        const upstream = await startMcpUpstream({ key: KEY, mode: each.mode, expects: each.expects });
        upstreams.push(upstream);
        const created = await createEndpoint(server, { upstream_url: upstream.url, credentials: each.credentials });
        assert.equal(created.status, 201, JSON.stringify(created.body));
        // Creation's transport detection asks without a key (the creator has none); from here on, every request has it.
        const from = upstream.requests.length;
        const provider: TestOAuthProvider = await authorize(created.body.mcp_endpoint!, each.fields);
        const { client } = await connectStreamable(created.body.mcp_endpoint!, { provider, fetch: recordingFetch(received) });
        const echoed = (await client.callTool({ name: 'echo', arguments: { text: 'templated' } })) as Text;
        assert.equal(echoed.content[0]!.text, 'echo: templated');
        await streamedProgress(client, upstream, 3);
        await client.close();
        const keyed = upstream.requests.slice(from);
        assert.ok(keyed.length >= 4);
        for (const request of keyed) {
          assert.ok(
            each.expects(new URL(request.path, 'http://upstream'), (name) => request.headers[name] as string | undefined),
            `${request.method} ${request.path} carried the credential where the template puts it`,
          );
        }
      });
    }

    test('legacy SSE with a query key: the stream and its signed message URLs carry it', async () => {
      const upstream = await startMcpUpstream({ key: KEY, mode: 'legacy-sse', expects: inQuery('key', QUERY_KEY) });
      upstreams.push(upstream);
      const created = await createEndpoint(server, {
        upstream_url: upstream.url,
        transport: 'sse',
        credentials: [{ in: 'query', name: 'key' }],
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const provider = await authorize(created.body.mcp_endpoint!, QUERY_KEY);
      const client = new Client({ name: 'legacy-templated', version: '1.0.0' });
      await client.connect(
        new SSEClientTransport(new URL(created.body.sse_endpoint!), { authProvider: provider, fetch: recordingFetch(received) }),
      );
      const echoed = (await client.callTool({ name: 'echo', arguments: { text: 'old' } })) as Text;
      assert.equal(echoed.content[0]!.text, 'echo: old');
      await client.close();
      const posts = upstream.requests.filter((request) => request.method === 'POST' && request.path.startsWith('/messages'));
      assert.ok(posts.length >= 2);
      for (const request of posts) assert.deepEqual(new URL(request.path, 'http://u').searchParams.getAll('key'), [QUERY_KEY]);
    });

    test('the query key is in no log line, metric, page, API answer or header', async () => {
      const created = await createEndpoint(server, {
        upstream_url: upstreams[0]!.url,
        credentials: [{ label: 'Exa key', in: 'query', name: 'api_key' }],
      });
      const manage = { authorization: `Bearer ${created.body.manage_token}` };
      const texts = [
        server.output(),
        received.join('\n'),
        await (await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${METRICS}` } })).text(),
        await (await fetch(`${server.url}/api/slugs/${created.body.slug}`, { headers: manage })).text(),
        await (await fetch(`${server.url}/api/slugs/${created.body.slug}/grants`, { headers: manage })).text(),
      ];
      for (const text of texts) assert.ok(!text.includes(QUERY_KEY), `the query key leaked:\n${text.slice(0, 2000)}`);
      assert.match(server.output(), /\/mcp/, 'the server logged the MCP requests it carried');
    });
  });
}
