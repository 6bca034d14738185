import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { Client } from 'undici';
import { type Carrier, carriers } from '../support/carriers.ts';
import { authorize, createEndpoint } from '../support/security.ts';
import type { Running } from '../support/targets.ts';

/**
 * A reverse proxy in front of Key2OAuth pools its connections: one keep-alive connection carries
 * many clients' requests in turn, each with its own token. Every request must be judged by its own
 * token and carry its own grant's key, whatever the connection carried before: nothing a carrier
 * remembers of a connection may stand in for the token a request brings. The Node carriers: on the
 * Worker, workerd's own server holds the connections and hands each request over alone.
 */

const KEYS = ['sk-pool-aaaaaaaaaaaa', 'sk-pool-bbbbbbbbbbbb'];
const MESSAGE = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} });

/** An upstream that takes either key and answers every request with the key it got. */
async function keyEchoingUpstream(): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    const key = (req.headers.authorization ?? '').replace(/^Bearer /, '');
    req.resume();
    req.on('end', () => {
      if (!KEYS.includes(key)) {
        res.writeHead(401, { 'content-type': 'application/json' });
        res.end('{"error":"invalid api key"}');
        return;
      }
      const result = { protocolVersion: '2025-06-18', capabilities: { tools: {} }, serverInfo: { name: 'keys', version: '1' }, key };
      res.writeHead(200, { 'content-type': 'application/json', 'mcp-session-id': 'session-0' });
      res.end(JSON.stringify({ jsonrpc: '2.0', id: 1, result }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

for (const carrier of carriers().filter((candidate: Carrier) => candidate.node)) {
  describe(`one connection, many clients' tokens (${carrier.name})`, () => {
    let upstream: Awaited<ReturnType<typeof keyEchoingUpstream>>;
    let server: Running;
    let endpoint: string;

    before(async () => {
      upstream = await keyEchoingUpstream();
      server = await carrier.start({});
      const created = await createEndpoint(server, { upstream_url: upstream.url });
      assert.equal(created.status, 201);
      endpoint = created.body.mcp_endpoint!;
    });
    after(async () => {
      await server?.stop();
      await upstream?.close();
    });

    test('each request carries its own grant’s key; a revoked token is refused at once while the other goes on', async () => {
      const [first, second] = [await authorize(server, endpoint, KEYS[0]!), await authorize(server, endpoint, KEYS[1]!)];
      let connections = 0;
      const connection = new Client(new URL(endpoint).origin, { pipelining: 1 });
      connection.on('connect', () => connections++);
      const call = async (token: string) => {
        const answer = await connection.request({
          path: new URL(endpoint).pathname,
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
          body: MESSAGE,
        });
        const text = await answer.body.text();
        return {
          status: answer.statusCode,
          key: answer.statusCode === 200 ? (JSON.parse(text) as { result: { key: string } }).result.key : '',
        };
      };
      try {
        for (const [grant, key] of [
          [first, KEYS[0]],
          [second, KEYS[1]],
          [second, KEYS[1]],
          [first, KEYS[0]],
          [first, KEYS[0]],
          [second, KEYS[1]],
        ] as const)
          assert.deepEqual(await call(grant.accessToken), { status: 200, key });
        // A token one character off the connection's last one is not taken for it.
        const near = `${first.accessToken.slice(0, -1)}${first.accessToken.endsWith('A') ? 'B' : 'A'}`;
        assert.equal((await call(first.accessToken)).status, 200);
        assert.equal((await call(near)).status, 401);

        const revoked = await fetch(`${server.url}/oauth/token`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ token: first.accessToken, client_id: first.clientId }),
        });
        assert.equal(revoked.status, 200);
        assert.equal((await call(first.accessToken)).status, 401, 'the revoked token, right after it went on this connection');
        assert.deepEqual(await call(second.accessToken), { status: 200, key: KEYS[1] });
        assert.equal((await call(first.accessToken)).status, 401);
        assert.equal(connections, 1, 'all of it on one connection');
      } finally {
        await connection.close();
      }
    });
  });
}
