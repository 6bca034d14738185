import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createEndpoint, mustCreateEndpoint } from '../support/api.ts';
import { Browser, Page } from '../support/browser.ts';
import { NO_RATE_LIMITS } from '../support/oauth-raw.ts';
import { authorize, mcpPost, startAuthorization } from '../support/security.ts';
import { type ServerProcess, startServer } from '../support/server-process.ts';
import { makeCertificate, startTlsFront, type TlsFront } from '../support/tls-front.ts';
import { startUpstream, type Upstream } from '../support/upstream.ts';

/**
 * Node only: the connect-time address check of the upstream guard (src/adapters/node/guarded-fetch.ts),
 * with the real server process in its default, strict mode (ALLOW_PRIVATE_UPSTREAMS=false). A
 * preload (test/support/dns-stub.ts) plays a hostile DNS server for HOST. A Worker has no such
 * check to test: it cannot see addresses, and Cloudflare's network refuses private ones instead.
 *
 * The scenario, on one data directory and port:
 * 1. strict: HOST resolves to a public address, so the endpoint `https://HOST:port/mcp` is created;
 * 2. development mode (private upstreams allowed), HOST now resolving to 127.0.0.1, where an HTTPS
 *    upstream counts connections: the user authorizes and the request goes through (the grant
 *    every later step uses; strict mode could never have checked the key there);
 * 3. strict again, HOST still on 127.0.0.1 (rebound): the same grant's request gets 502, the key
 *    check is refused, and the upstream sees no connection at all.
 */

const KEY = 'sk-strict-guard-0123456789abcdef';
const HOST = 'rebind.example.com';
/** Globally routable, so it passes every check. Nothing connects to it: creation names the transport, so it sends no request. */
const PUBLIC_ADDRESS = '93.184.215.14';
const STUB = fileURLToPath(new URL('../support/dns-stub.ts', import.meta.url));
const INITIALIZE = JSON.stringify({
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'strict', version: '1' } },
});

describe('the upstream guard checks every address at connect time, so DNS rebinding reaches nothing (node, strict mode)', () => {
  let dir: string;
  let upstream: Upstream;
  let front: TlsFront;
  let server: ServerProcess | undefined;
  let endpoint: string;
  let accessToken: string;
  let upstreamUrl: string;
  let dataDir: string | undefined;

  const resolveHostTo = (address: string) => writeFileSync(join(dir, 'dns.json'), JSON.stringify({ [HOST]: address }));

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'key2oauth-strict-'));
    const certificate = makeCertificate(HOST, dir);
    upstream = await startUpstream({ key: KEY });
    front = await startTlsFront(Number(new URL(upstream.url).port), certificate);
    upstreamUrl = `https://${HOST}:${front.port}/mcp`;
    const env = { ...NO_RATE_LIMITS, DNS_STUB_FILE: join(dir, 'dns.json'), NODE_EXTRA_CA_CERTS: certificate.certPath };
    const nodeArgs = ['--import', STUB];

    resolveHostTo(PUBLIC_ADDRESS);
    const first = await startServer({ ...env, ALLOW_PRIVATE_UPSTREAMS: 'false' }, { nodeArgs });
    dataDir = first.dataDir;
    const place = { dataDir: first.dataDir, port: Number(new URL(first.url).port), nodeArgs };
    try {
      // The guard lets the name through (a public address); nothing answers there in this sandbox,
      // so creation refuses it as unreachable (upstream/detect.ts), not as a guarded address.
      const refused = await createEndpoint(first, { upstream_url: upstreamUrl, transport: 'streamable-http' });
      assert.equal(refused.status, 422, JSON.stringify(refused.body));
      assert.equal(refused.body.error, 'upstream_unreachable');
      assert.match(
        first.output(),
        new RegExp(`dns-stub: ${HOST} -> ${PUBLIC_ADDRESS.replaceAll('.', '\\.')}`),
        'creation looked the name up',
      );
    } finally {
      await first.stop();
    }

    resolveHostTo('127.0.0.1');
    const development = await startServer({ ...env, ALLOW_PRIVATE_UPSTREAMS: 'true' }, place);
    try {
      endpoint = (await mustCreateEndpoint(development, { upstream_url: upstreamUrl, transport: 'streamable-http' })).mcp_endpoint!;
      accessToken = (await authorize(development, endpoint, KEY)).accessToken;
      const allowed = await mcpPost(endpoint, accessToken, INITIALIZE);
      const answer = await allowed.text();
      assert.equal(allowed.status, 200, `where loopback is allowed the request goes through: ${answer}`);
      assert.match(answer, /upstream-under-test/, 'the upstream answered initialize');
      assert.ok(front.connections > 0, 'the upstream is reachable over HTTPS at that name');
    } finally {
      await development.stop();
    }

    server = await startServer({ ...env, ALLOW_PRIVATE_UPSTREAMS: 'false' }, place);
  });
  after(async () => {
    await server?.stop();
    await front?.close();
    await upstream?.close();
    for (const path of [dir, dataDir]) if (path) rmSync(path, { recursive: true, force: true });
  });

  /** What the server printed from here on, and the upstream's connections since. */
  function watch() {
    const outputFrom = server!.output().length;
    const connectionsBefore = front.connections;
    return { output: () => server!.output().slice(outputFrom), newConnections: () => front.connections - connectionsBefore };
  }

  test('after the name rebinds to 127.0.0.1, a valid grant’s MCP request gets 502 and the upstream sees no connection', async () => {
    resolveHostTo('127.0.0.1');
    const seen = watch();
    const requestsBefore = upstream.requests.length;
    const response = await mcpPost(endpoint, accessToken, INITIALIZE);
    const body = await response.text();
    assert.equal(response.status, 502, body);
    assert.match((JSON.parse(body) as { error: { message: string } }).error.message, /resolves to a loopback address/);
    assert.match(seen.output(), new RegExp(`dns-stub: ${HOST} -> 127\\.0\\.0\\.1`), 'the name was looked up when connecting');
    assert.equal(seen.newConnections(), 0, 'no connection reached the loopback upstream');
    assert.equal(upstream.requests.length, requestsBefore);
  });

  test('after the name rebinds, the key check on the consent page is refused and the upstream sees no connection', async () => {
    resolveHostTo('127.0.0.1');
    const seen = watch();
    const browser = new Browser();
    const page = await browser.get(await startAuthorization(endpoint));
    assert.equal(page.status, 200, page.text());
    const response = await browser.submit(page, { api_key: KEY }, { name: 'action', value: 'approve' });
    const again = new Page(page.url, response, await response.text());
    assert.equal(response.status, 502, again.text());
    assert.equal(response.headers.get('location'), null, 'no code');
    assert.match(again.text(), /The key could not be checked: .* is not reachable \(its address is not allowed here\)/);
    assert.equal(seen.newConnections(), 0);
  });

  test('while the name resolves to 127.0.0.1, a new endpoint for it is refused at creation', async () => {
    resolveHostTo('127.0.0.1');
    const seen = watch();
    const created = await createEndpoint(server!, { upstream_url: upstreamUrl, transport: 'streamable-http' });
    assert.equal(created.status, 400, JSON.stringify(created.body));
    assert.match(created.body.message!, /resolves to a loopback address/);
    assert.equal(seen.newConnections(), 0);
  });
});
