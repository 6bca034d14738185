import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { nodeTarget, type Running } from '../support/targets.ts';

/**
 * The Node server's client address is its socket's peer (adapters/node/platform.ts), handed from
 * @hono/node-server's bindings to `Platform.clientAddress` as data. Connections from two loopback
 * addresses (127.0.0.1 and 127.0.0.2, both this machine on Linux) are two clients: each has its own
 * creation limit, and an X-Forwarded-For header, untrusted without TRUST_PROXY, changes nothing.
 * (The Worker's address, CF-Connecting-IP, and the trusted-proxy case are in abuse.test.ts.)
 */
describe('client address on the Node server, without a trusted proxy', () => {
  let server: Running;
  before(async () => {
    server = await nodeTarget.start({ RATE_LIMIT_CREATE: '1/3600' });
  });
  after(async () => {
    await server?.stop();
  });

  const create = (localAddress: string, headers: Record<string, string> = {}) =>
    new Promise<number>((resolve, reject) => {
      const { port } = new URL(server.url);
      const sent = request(
        {
          host: '127.0.0.1',
          port,
          path: '/api/slugs',
          method: 'POST',
          localAddress,
          headers: { 'content-type': 'application/json', ...headers },
        },
        (response) => {
          response.resume();
          resolve(response.statusCode!);
        },
      );
      sent.on('error', reject);
      // Refused by the input rules (400) after it was counted: the limit is what is looked at.
      sent.end(JSON.stringify({}));
    });

  test('each socket address has its own limit, and a forwarded-for header does not make a new one', async () => {
    assert.equal(await create('127.0.0.1'), 400);
    assert.equal(await create('127.0.0.1'), 429, 'the second from one address is over the limit');
    assert.equal(await create('127.0.0.1', { 'x-forwarded-for': '198.51.100.9' }), 429, 'X-Forwarded-For is not trusted');
    assert.equal(await create('127.0.0.2'), 400, 'another address is another client');
    assert.equal(await create('127.0.0.2'), 429);
  });
});
