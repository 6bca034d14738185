import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { mustCreateEndpoint } from '../support/api.ts';
import { NO_RATE_LIMITS } from '../support/oauth-raw.ts';
import { authorize, mcpPost } from '../support/security.ts';
import { type ServerProcess, startServer } from '../support/server-process.ts';
import { type StreamingUpstream, startStreamingUpstream } from '../support/streaming-upstream.ts';

/**
 * The Node server under an operator's `ulimit -n 1024`: one stranger opening streams without end,
 * or a flood of sockets that never finish their headers, must not keep other users out. Before
 * the limits, 600 streams made other users' calls fail with EMFILE and 1,100 slow-header sockets
 * made /healthz unreachable. Node only: file descriptors, sockets and the server's own options.
 */

const KEY = 'sk-resource-limits-0123456789abcdef';
const OPEN_FILES = 1024;

/** Opens a GET stream on a raw socket and resolves with the status code once the head arrives. */
function openStream(endpoint: string, token: string, address: string, sockets: Socket[]): Promise<number> {
  const url = new URL(endpoint);
  return new Promise((resolve) => {
    const socket = connect(Number(url.port), url.hostname);
    sockets.push(socket);
    let head = '';
    socket.on('error', () => resolve(0));
    socket.on('close', () => resolve(0));
    socket.on('data', (chunk) => {
      head += chunk.toString('latin1');
      const status = /^HTTP\/1\.1 (\d{3})/.exec(head);
      if (status) resolve(Number(status[1]));
    });
    socket.write(
      `GET ${url.pathname} HTTP/1.1\r\nHost: ${url.host}\r\nAuthorization: Bearer ${token}\r\nAccept: text/event-stream\r\nX-Forwarded-For: ${address}\r\n\r\n`,
    );
  });
}

describe('resource limits under ulimit -n 1024 (node)', () => {
  let upstream: StreamingUpstream;
  let server: ServerProcess;
  let endpoint: string;
  const sockets: Socket[] = [];

  before(async () => {
    upstream = await startStreamingUpstream(KEY);
    server = await startServer(
      { ...NO_RATE_LIMITS, TRUST_PROXY: 'true', HEADERS_TIMEOUT_MS: '5000', MAX_STREAMS_PER_ADDRESS: '64' },
      { openFiles: OPEN_FILES },
    );
    endpoint = (await mustCreateEndpoint(server, { upstream_url: upstream.url, transport: 'streamable-http' })).mcp_endpoint!;
  });
  after(async () => {
    for (const socket of sockets) socket.destroy();
    await server?.stop();
    await upstream?.close();
  });

  /** Another user's ordinary call, from its own address. */
  async function otherUserCall(token: string): Promise<number> {
    const response = await mcpPost(endpoint, token, JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: {} }), {
      'x-forwarded-for': '192.0.2.200',
    });
    await response.body?.cancel();
    return response.status;
  }

  test('600 streams from one stranger (three authorizations, one address): at most MAX_STREAMS_PER_ADDRESS open, the rest 429; others still work', async () => {
    assert.match(server.output(), /"max_connections":480/, 'MAX_CONNECTIONS=auto follows the open-file limit');
    const attacker = await Promise.all([1, 2, 3].map(() => authorize(server, endpoint, KEY)));
    const other = await authorize(server, endpoint, KEY);
    const statuses = await Promise.all(
      Array.from({ length: 600 }, (_, i) => openStream(endpoint, attacker[i % 3]!.accessToken, '203.0.113.66', sockets)),
    );
    const opened = statuses.filter((status) => status === 200).length;
    const refused = statuses.filter((status) => status === 429).length;
    assert.equal(opened, 64, `opened ${opened}`);
    // The rest are refused: 429, or, for connections past MAX_CONNECTIONS (480) that had not sent
    // their request yet, closed to make room (status 0 here).
    assert.equal(refused + statuses.filter((status) => status === 0).length, 600 - 64, `statuses: ${statuses}`);
    assert.ok(refused > 400, `refused ${refused}`);
    assert.equal(await otherUserCall(other.accessToken), 200);
    assert.equal((await fetch(`${server.url}/healthz`)).status, 200);
    assert.doesNotMatch(server.output(), /EMFILE/);
  });

  test('1,100 sockets that never finish their headers do not stop /healthz or other users', async () => {
    const other = await authorize(server, endpoint, KEY);
    const url = new URL(server.url);
    const slow: Socket[] = [];
    await Promise.all(
      Array.from(
        { length: 1100 },
        () =>
          new Promise<void>((resolve) => {
            const socket = connect(Number(url.port), '127.0.0.1', () => {
              socket.write(`GET /healthz HTTP/1.1\r\nHost: ${url.host}\r\nX-Slow: `);
              resolve();
            });
            socket.on('error', () => resolve());
            slow.push(socket);
            sockets.push(socket);
          }),
      ),
    );
    const started = Date.now();
    const health = await fetch(`${server.url}/healthz`, { signal: AbortSignal.timeout(5000) });
    assert.equal(health.status, 200);
    assert.ok(Date.now() - started < 3000, 'answered at once, not after the flood timed out');
    assert.equal(await otherUserCall(other.accessToken), 200);
    assert.doesNotMatch(server.output(), /EMFILE/);
    for (const socket of slow) socket.destroy();
  });

  test('an error while relaying an answer is logged as a redacted JSON line, not printed raw', async () => {
    const grant = await authorize(server, endpoint, KEY);
    const before = server.output().length;
    upstream.breakNext();
    const response = await fetch(endpoint, {
      headers: { authorization: `Bearer ${grant.accessToken}`, accept: 'text/event-stream', 'x-forwarded-for': '192.0.2.201' },
    });
    assert.equal(response.status, 200);
    await response.text().catch(() => {});
    await new Promise((resolve) => setTimeout(resolve, 300));
    const lines = server.output().slice(before).split('\n').filter(Boolean);
    assert.ok(
      lines.some((line) => /"level":"error"/.test(line)),
      'the failure is logged',
    );
    for (const line of lines) assert.doesNotThrow(() => JSON.parse(line), `not a JSON log line: ${line}`);
  });
});
