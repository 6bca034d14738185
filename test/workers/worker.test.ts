import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { connectWithOAuth, type TestOAuthProvider } from '../support/oauth-client.ts';
import { freePort } from '../support/server-process.ts';
import { startUpstream, type Upstream } from '../support/upstream.ts';
import { startWorker, type WorkerProcess } from '../support/worker-process.ts';

/**
 * What only the Worker adapter does, tested inside workerd through the real Worker's public
 * behaviour: bindings persisted by local KV and Durable Objects, Worker vars, the secret, the
 * fetch guard, and KV's 60-second TTL minimum.
 */
const KEY = 'sk-worker-test-0123456789';

/** The raw POST /api/slugs response (test/support/api.ts reads it for the shared suites). */
async function postEndpoint(url: string, upstreamUrl: string) {
  return fetch(`${url}/api/slugs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ upstream_url: upstreamUrl }),
  });
}

async function callEcho(endpoint: string, provider: TestOAuthProvider, text: string) {
  const client = new Client({ name: 'worker-test', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(endpoint), { authProvider: provider }));
  try {
    const result = (await client.callTool({ name: 'echo', arguments: { text } })) as { content: { text: string }[] };
    return result.content[0]!.text;
  } finally {
    await client.close();
  }
}

/**
 * The tests below are one chain on one persisted state: each builds on what the one before left.
 * Whatever fails along the way, at most one Worker runs at a time (`restart` stops the running one
 * first; a stopped one is never left in `worker`), and the `after` hook stops the last one, so no
 * wrangler or workerd outlives the suite. A test whose predecessor failed fails at once, naming it.
 */
describe('the Worker across restarts (wrangler dev, state persisted)', () => {
  let upstream: Upstream;
  let persistDir: string;
  let port: number;
  let worker: WorkerProcess | undefined;
  let endpoint: string | undefined;
  let provider: TestOAuthProvider | undefined;
  // The shortest lifetimes the config accepts; the refresh token's is exactly the shortest TTL Workers KV stores.
  const vars = { ACCESS_TOKEN_TTL: '300', REFRESH_TOKEN_TTL: '60', RATE_LIMIT_CREATE: '3/3600' };

  /** Stops the running Worker, if any, then starts one on the same port and state with `withVars`. */
  async function restart(withVars: Record<string, string>): Promise<WorkerProcess> {
    await stopWorker();
    worker = await startWorker(withVars, { port, persistDir });
    return worker;
  }
  async function stopWorker() {
    const running = worker;
    worker = undefined;
    await running?.stop();
  }
  /** The endpoint and grant the first test made, or a failure that says so. */
  function firstTestsGrant(): { endpoint: string; provider: TestOAuthProvider } {
    assert.ok(endpoint && provider, 'needs the endpoint and grant of the first test, which failed');
    return { endpoint, provider };
  }

  before(async () => {
    upstream = await startUpstream({ key: KEY });
    persistDir = mkdtempSync(join(tmpdir(), 'key2oauth-worker-state-'));
    port = await freePort();
  });
  after(async () => {
    await stopWorker();
    await upstream?.close();
    if (persistDir) rmSync(persistDir, { recursive: true, force: true });
  });

  test('tokens with the shortest lifetimes are issued and work (KV accepts the 60-second refresh TTL); the key check closes its session', async () => {
    const worker = await restart(vars);
    const created = await postEndpoint(worker.url, upstream.url);
    assert.equal(created.status, 201);
    const mcpEndpoint = ((await created.json()) as { mcp_endpoint: string }).mcp_endpoint;
    const connected = await connectWithOAuth(mcpEndpoint, KEY);
    assert.equal(connected.provider.savedTokens!.expires_in, 300);
    assert.equal(
      ((await connected.client.callTool({ name: 'echo', arguments: { text: 'first' } })) as { content: { text: string }[] }).content[0]!
        .text,
      'echo: first',
    );
    // The key check's MCP session is closed again after the page answered (waitUntil).
    const deadline = Date.now() + 5000;
    while (!upstream.requests.some((request) => request.method === 'DELETE') && Date.now() < deadline)
      await new Promise((done) => setTimeout(done, 50));
    assert.ok(
      upstream.requests.some((request) => request.method === 'DELETE'),
      'the key check leaves no session behind upstream',
    );
    await connected.client.close();
    const ready = await fetch(`${worker.url}/readyz`);
    assert.equal(ready.status, 200, '/readyz: KV answers');
    assert.deepEqual(await ready.json(), { ok: true, storage: 'reachable' });
    assert.equal((await postEndpoint(worker.url, upstream.url)).status, 201);
    endpoint = mcpEndpoint;
    provider = connected.provider;
  });

  test('stopping leaves no wrangler or workerd process running', async () => {
    const stopped = worker;
    assert.ok(stopped, 'needs the Worker of the first test, which did not start');
    await stopWorker();
    assert.deepEqual(stopped.livingProcesses(), []);
  });

  test('after a restart the endpoint, the grant and the rate-limit count are still there', async () => {
    const { endpoint, provider } = firstTestsGrant();
    const worker = await restart(vars);
    assert.equal(await callEcho(endpoint, provider, 'after restart'), 'echo: after restart');
    // Two creations counted before the restart; the generated secret (same buckets) and the
    // Durable Object counters both survived, so the limit of 3 is reached on the next two.
    assert.equal((await postEndpoint(worker.url, upstream.url)).status, 201);
    const refused = await postEndpoint(worker.url, upstream.url);
    assert.equal(refused.status, 429);
    assert.ok(Number(refused.headers.get('retry-after')) > 0);
  });

  test('an upstream the URL policy no longer allows is not contacted, even for existing grants', async () => {
    const { endpoint, provider } = firstTestsGrant();
    await restart({ ...vars, ALLOW_PRIVATE_UPSTREAMS: 'false' });
    const before = upstream.requests.length;
    const response = await fetch(endpoint, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${provider.savedTokens!.access_token}`,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
    assert.equal(response.status, 502);
    assert.match(((await response.json()) as { error: { message: string } }).error.message, /must start with https/);
    assert.equal(upstream.requests.length, before, 'no request reached the upstream');
  });
});

describe('Worker configuration', () => {
  test('without PUBLIC_URL each origin the Worker is reached on is its own consistent issuer', async () => {
    const worker = await startWorker({ PUBLIC_URL: '' });
    // Creation checks that an MCP server answers there (upstream/detect.ts).
    const upstream = await startUpstream({ key: KEY });
    try {
      const port = new URL(worker.url).port;
      for (const origin of [`http://127.0.0.1:${port}`, `http://localhost:${port}`]) {
        const metadata = (await (await fetch(`${origin}/.well-known/oauth-authorization-server`)).json()) as {
          issuer: string;
          token_endpoint: string;
        };
        assert.equal(metadata.issuer, origin);
        assert.equal(metadata.token_endpoint, `${origin}/oauth/token`);
      }
      const created = (await (await postEndpoint(`http://127.0.0.1:${port}`, upstream.url)).json()) as {
        mcp_endpoint: string;
      };
      assert.match(created.mcp_endpoint, new RegExp(`^http://127\\.0\\.0\\.1:${port}/[A-Za-z0-9]{12}/mcp$`));
    } finally {
      await worker.stop();
      await upstream.close();
    }
  });

  test('a KEY2OAUTH_SECRET with less than 32 bytes of entropy stops every request with a message naming it', async () => {
    // 32 characters, which the old length rule let through, but only 16 bytes: hex.
    const weak = 'deadbeef0badf00ddeadbeef0badf00d';
    const worker = await startWorker({ KEY2OAUTH_SECRET: weak }, { anyAnswer: true });
    try {
      const response = await fetch(`${worker.url}/`);
      assert.equal(response.status, 500);
      const body = (await response.json()) as { error: string; message: string };
      assert.equal(body.error, 'server_misconfigured');
      assert.match(body.message, /KEY2OAUTH_SECRET must hold at least 32 random bytes/);
      assert.ok(!body.message.includes(weak), 'the value is not echoed');
    } finally {
      await worker.stop();
    }
  });
});
