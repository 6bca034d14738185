import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { mustCreateEndpoint } from '../support/api.ts';
import { startRecorder, startRedirectingUpstream } from '../support/http-fixtures.ts';
import { connectWithOAuth } from '../support/oauth-client.ts';
import { NO_RATE_LIMITS } from '../support/oauth-raw.ts';
import { authorize } from '../support/security.ts';
import { type Running, targets } from '../support/targets.ts';
import { startUpstream } from '../support/upstream.ts';

const KEY = 'sk-headers-0123456789abcdef';

const INITIALIZE = JSON.stringify({
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'headers', version: '1' } },
});

/** How an endpoint is configured, and the one header line its upstream must then see. */
const SHAPES = [
  {
    name: 'X-API-Key with the default (empty) prefix',
    create: { auth_header_name: 'X-API-Key' },
    upstream: { header: 'X-API-Key', prefix: '' },
    stored: ['X-API-Key', ''],
    line: ['x-api-key', KEY],
  },
  {
    name: 'Authorization with an empty prefix',
    create: { auth_header_prefix: '' },
    upstream: { prefix: '' },
    stored: ['Authorization', ''],
    line: ['authorization', KEY],
  },
  {
    name: 'Authorization with the prefix Token',
    create: { auth_header_prefix: 'Token' },
    upstream: { prefix: 'Token ' },
    stored: ['Authorization', 'Token'],
    line: ['authorization', `Token ${KEY}`],
  },
] as const;

for (const target of targets())
  describe(`the upstream gets the key in the configured header and never the OAuth token (${target.name})`, () => {
    let server: Running;

    before(async () => {
      server = await target.start(NO_RATE_LIMITS);
    });
    after(async () => {
      await server?.stop();
    });

    for (const shape of SHAPES) {
      test(`${shape.name}: tools/call works and the upstream saw exactly "${shape.line[0]}: ${shape.line[1].replace(KEY, '<key>')}"`, async () => {
        const upstream = await startUpstream({ key: KEY, ...shape.upstream });
        try {
          const created = await mustCreateEndpoint(server, { upstream_url: upstream.url, ...shape.create });
          assert.deepEqual([created.auth_header_name, created.auth_header_prefix], shape.stored);
          // Creation's keyless transport check is not what this test is about.
          upstream.requests.length = 0;

          const { client, provider } = await connectWithOAuth(created.mcp_endpoint!, KEY);
          try {
            const result = (await client.callTool({ name: 'echo', arguments: { text: 'header check' } })) as {
              content: { text: string }[];
            };
            assert.equal(result.content[0]!.text, 'echo: header check');
          } finally {
            await client.close();
          }
          const tokens = provider.savedTokens!;
          // The key check, initialize, the tool call and the session's end: all of them.
          assert.ok(upstream.requests.length >= 3, `${upstream.requests.length} requests reached the upstream`);
          const [name, value] = shape.line;
          for (const { method, headers } of upstream.requests) {
            assert.equal(headers[name], value, `${method}: the ${name} header`);
            if (name !== 'authorization')
              assert.equal(headers.authorization, undefined, `${method}: no Authorization header beside ${name}`);
            for (const [header, sent] of Object.entries(headers)) {
              assert.ok(!String(sent).includes(tokens.access_token), `${method}: the access token is in the upstream's ${header} header`);
              assert.ok(
                !String(sent).includes(tokens.refresh_token!),
                `${method}: the refresh token is in the upstream's ${header} header`,
              );
            }
          }
        } finally {
          await upstream.close();
        }
      });
    }

    test('an upstream that answers the MCP request with a redirect: the client gets 502 and nothing follows it', async () => {
      const elsewhere = await startRecorder();
      const upstream = await startRedirectingUpstream(KEY, `${elsewhere.origin}/mcp`);
      try {
        const created = await mustCreateEndpoint(server, { upstream_url: upstream.url, transport: 'streamable-http' });
        const { accessToken } = await authorize(server, created.mcp_endpoint!, KEY);
        for (const status of [301, 302, 303, 307, 308]) {
          upstream.redirectWith = status;
          const seen = upstream.requests;
          // `manual`: what is measured is the proxy, not this client following a Location.
          const response = await fetch(created.mcp_endpoint!, {
            method: 'POST',
            headers: {
              authorization: `Bearer ${accessToken}`,
              'content-type': 'application/json',
              accept: 'application/json, text/event-stream',
            },
            body: INITIALIZE,
            redirect: 'manual',
          });
          const body = await response.text();
          assert.equal(response.status, 502, `${status}: ${body}`);
          assert.equal(response.headers.get('location'), null, `${status}: the Location is not passed on`);
          assert.ok(!body.includes(elsewhere.origin), `${status}: the other server is not named to the client`);
          assert.equal(upstream.requests, seen + 1, `${status}: the upstream itself was asked`);
        }
        assert.equal(elsewhere.requests.length, 0, 'the redirect target saw no request');
      } finally {
        await upstream.close();
        await elsewhere.close();
      }
    });
  });
