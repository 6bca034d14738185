import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { createRedisStorage } from '../../src/adapters/node/redis.ts';
import { mustCreateEndpoint } from '../support/api.ts';
import { Browser, Page } from '../support/browser.ts';
import { type Nginx, nginxBinary, startReplicaBalancer } from '../support/nginx.ts';
import { authorizationUrl, exchangeCode, NO_RATE_LIMITS, pkce, type RawClient, refresh, registerClient } from '../support/oauth-raw.ts';
import { type RedisServer, redisAvailable, startRedis } from '../support/redis-server.ts';
import { freePort, type ServerProcess, startServer } from '../support/server-process.ts';
import type { Running } from '../support/targets.ts';
import { startUpstream, type Upstream } from '../support/upstream.ts';

/**
 * Several replicas, as docs/replicas.md runs them: three server processes sharing one real Redis,
 * behind a real nginx configured with docs/nginx-replicas.conf. One OAuth flow is spread across
 * them, revocation through one is seen by all at once, and Redis is stopped mid-run.
 */

const KEY = 'sk-replicas-0123456789abcdef';
const missing = !redisAvailable() ? 'redis-server' : !nginxBinary() ? 'nginx' : undefined;
const skip = missing ? `${missing} is not installed (.ci/run installs redis-server and nginx-light)` : false;

const INITIALIZE = JSON.stringify({
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'replicas-test', version: '1' } },
});

/** An MCP initialize POST, as a client sends it, at `endpoint` on another origin (a replica's own port). */
function initialize(endpoint: string, token: string, origin?: string): Promise<Response> {
  const url = origin ? `${origin}${new URL(endpoint).pathname}` : endpoint;
  return fetch(url, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
    body: INITIALIZE,
    signal: AbortSignal.timeout(10_000),
  });
}

/** The error of a server that must refuse to start; one that starts anyway is stopped, and the test fails. */
async function mustNotStart(env: Record<string, string>): Promise<Error> {
  let server: ServerProcess;
  try {
    server = await startServer(env);
  } catch (error) {
    assert.match((error as Error).message, /server exited early/);
    return error as Error;
  }
  await server.stop();
  assert.fail('the server started');
}

/** A whole sign-in through `server` (the balancer), returning the access token. */
async function signIn(server: Running, endpoint: string): Promise<string> {
  const client = await registerClient(server, ['http://127.0.0.1:9/callback'], 'Replica client');
  const { verifier, challenge } = pkce();
  const browser = new Browser();
  const page = await browser.get(authorizationUrl(server, endpoint, client, { challenge }));
  const approved = await browser.submit(page, { api_key: KEY }, { name: 'action', value: 'approve' });
  if (approved.status !== 302) throw new Error(`approval answered ${approved.status}: ${await approved.text()}`);
  const code = new URL(approved.headers.get('location')!).searchParams.get('code')!;
  const tokens = await exchangeCode(server, endpoint, client, { code, verifier, redirectUri: client.redirectUris[0]! });
  if (tokens.status !== 200) throw new Error(`the code exchange answered ${tokens.status}`);
  return tokens.body.access_token!;
}

describe('three replicas on one Redis behind nginx', { skip }, () => {
  let redis: RedisServer;
  let upstream: Upstream;
  let replicas: ServerProcess[] = [];
  let nginx: Nginx & { url: string };
  /** The public origin: nginx. Each replica is also reached directly on its own port. */
  let balancer: Running;
  let a: Running;
  let b: Running;
  let c: Running;
  let endpoint: string;

  before(async () => {
    redis = await startRedis();
    upstream = await startUpstream({ key: KEY });
    const ports = [await freePort(), await freePort(), await freePort()];
    const nginxPort = await freePort();
    const publicUrl = `http://127.0.0.1:${nginxPort}`;
    // No KEY2OAUTH_SECRET: the replicas agree on the one the first of them stores in Redis.
    const env = {
      REDIS_URL: `${redis.url}/3`,
      REDIS_KEY_PREFIX: 'replicas-test:',
      PUBLIC_URL: publicUrl,
      TRUST_PROXY: 'true',
      ...NO_RATE_LIMITS,
    };
    replicas = await Promise.all(ports.map((port) => startServer(env, { port })));
    nginx = await startReplicaBalancer(ports, nginxPort);
    assert.equal(nginx.url, publicUrl);
    balancer = { url: publicUrl, output: () => '', stop: async () => {} };
    [a, b, c] = replicas as [ServerProcess, ServerProcess, ServerProcess];
    endpoint = (await mustCreateEndpoint(balancer, { upstream_url: upstream.url, display_name: 'Replicated echo' })).mcp_endpoint!;
  });
  after(async () => {
    await nginx?.stop();
    await Promise.all(replicas.map((replica) => replica.stop()));
    await upstream?.close();
    await redis?.stop();
  });

  test('register on A, authorization page on B, its form post on C, token on A, MCP everywhere, refresh on B, revoke on C, refused on A', async () => {
    const client: RawClient = await registerClient(a, ['http://127.0.0.1:9/callback'], 'Replica client');

    const { verifier, challenge } = pkce();
    const browser = new Browser();
    const page = await browser.get(authorizationUrl(b, endpoint, client, { challenge }));
    assert.equal(page.status, 200, page.text());
    // The consent transaction lives in Redis: C finds it by the handle and the __Host- cookie B set.
    const onC = new Page(page.url.replace(b.url, c.url), page.response, page.body);
    const approved = await browser.submit(onC, { api_key: KEY }, { name: 'action', value: 'approve' });
    assert.equal(approved.status, 302, await approved.clone().text());
    const code = new URL(approved.headers.get('location')!).searchParams.get('code')!;
    assert.ok(code);

    const tokens = await exchangeCode(a, endpoint, client, { code, verifier, redirectUri: client.redirectUris[0]! });
    assert.equal(tokens.status, 200, JSON.stringify(tokens.body));
    const access = tokens.body.access_token!;

    // Through the balancer with a real MCP SDK client (SSE answers relayed), then on each replica.
    const sdk = new Client({ name: 'replicas-test', version: '1' });
    await sdk.connect(
      new StreamableHTTPClientTransport(new URL(endpoint), { requestInit: { headers: { authorization: `Bearer ${access}` } } }),
    );
    const echoed = (await sdk.callTool({ name: 'echo', arguments: { text: 'via nginx' } })) as { content: { text: string }[] };
    assert.equal(echoed.content[0]!.text, 'echo: via nginx');
    await sdk.close();
    for (const replica of [a, b, c]) assert.equal((await initialize(endpoint, access, replica.url)).status, 200, `MCP on ${replica.url}`);
    const forwarded = upstream.requests.at(-1)!.headers;
    assert.equal(forwarded.authorization, `Bearer ${KEY}`, 'the key went upstream');

    const refreshed = await refresh(b, client.clientId, tokens.body.refresh_token!);
    assert.equal(refreshed.status, 200, JSON.stringify(refreshed.body));
    const fresh = refreshed.body.access_token!;
    assert.equal((await initialize(endpoint, fresh)).status, 200);

    // RFC 7009 revocation on C: A refuses the token on the very next request (Redis invalidates A's
    // client-side cache of the record before it answers C).
    const revoked = await fetch(`${c.url}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: refreshed.body.refresh_token!, client_id: client.clientId }),
    });
    assert.equal(revoked.status, 200);
    const refused = await initialize(endpoint, fresh, a.url);
    assert.equal(refused.status, 401);
    assert.match(refused.headers.get('www-authenticate') ?? '', /invalid_token/);
    assert.equal((await refresh(a, client.clientId, refreshed.body.refresh_token!)).status, 400, 'the refresh token is gone too');
  });

  test('an endpoint change on C, and an upstream refusing the key through B, end the grant on A at once', async () => {
    const other = await startUpstream({ key: KEY });
    try {
      const created = await mustCreateEndpoint(balancer, { upstream_url: other.url });
      const mcp = created.mcp_endpoint!;
      const manage = (origin: string, body: unknown) =>
        fetch(`${origin}/api/slugs/${created.slug}`, {
          method: 'PATCH',
          headers: { authorization: `Bearer ${created.manage_token}`, 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });

      const first = await signIn(balancer, mcp);
      assert.equal((await initialize(mcp, first, a.url)).status, 200);
      const changed = await manage(c.url, { auth_header_name: 'X-Api-Key', auth_header_prefix: '' });
      assert.equal(changed.status, 200);
      assert.equal(((await changed.json()) as { revoked_grants: number }).revoked_grants, 1);
      assert.equal((await initialize(mcp, first, a.url)).status, 401, 'A refuses the grant C revoked');
      assert.equal((await manage(c.url, { auth_header_name: 'Authorization', auth_header_prefix: 'Bearer' })).status, 200);

      const second = await signIn(balancer, mcp);
      assert.equal((await initialize(mcp, second, a.url)).status, 200);
      other.acceptedKey = 'sk-the-key-was-rotated-upstream';
      const rejected = await initialize(mcp, second, b.url);
      assert.equal(rejected.status, 401, 'B passes on the upstream refusal and ends the grant');
      const reached = other.requests.length;
      const onA = await initialize(mcp, second, a.url);
      assert.equal(onA.status, 401);
      assert.match(onA.headers.get('www-authenticate') ?? '', /invalid_token/);
      assert.equal(other.requests.length, reached, 'A refused it without sending the key upstream');
    } finally {
      await other.close();
    }
  });

  test('Redis stops mid-run: clean 503s within seconds on every replica, then the same grant works again', async () => {
    const client = await registerClient(balancer, ['http://127.0.0.1:9/callback'], 'Outage client');
    const { verifier, challenge } = pkce();
    const browser = new Browser();
    const page = await browser.get(authorizationUrl(balancer, endpoint, client, { challenge }));
    const approved = await browser.submit(page, { api_key: KEY }, { name: 'action', value: 'approve' });
    const code = new URL(approved.headers.get('location')!).searchParams.get('code')!;
    const tokens = await exchangeCode(balancer, endpoint, client, { code, verifier, redirectUri: client.redirectUris[0]! });
    const access = tokens.body.access_token!;
    assert.equal((await initialize(endpoint, access)).status, 200);

    await redis.stop();
    try {
      for (const origin of [undefined, a.url, b.url, c.url]) {
        const started = Date.now();
        const response = await initialize(endpoint, access, origin);
        assert.equal(response.status, 503, `${origin ?? 'nginx'}: 503 while Redis is down, not ${response.status}`);
        assert.match(response.headers.get('retry-after') ?? '', /^\d+$/);
        assert.equal(response.headers.get('www-authenticate'), null, 'no challenge: the client keeps its tokens');
        assert.match(await response.text(), /temporarily unavailable/);
        assert.ok(Date.now() - started < 5000, `answered within seconds (${Date.now() - started} ms)`);
      }
      for (const replica of replicas) {
        assert.equal((await fetch(`${replica.url}/readyz`)).status, 503, `${replica.url}/readyz: not ready without Redis`);
        assert.equal((await fetch(`${replica.url}/healthz`)).status, 200, `${replica.url}/healthz: still alive`);
      }
      const refreshDown = await refresh(balancer, client.clientId, tokens.body.refresh_token!);
      assert.equal(refreshDown.status, 503, 'a refresh waits too, and the refresh token is not spent');
      const pageDown = await new Browser().get(authorizationUrl(balancer, endpoint, client, { challenge }));
      assert.equal(pageDown.status, 503);
    } finally {
      await redis.start();
    }

    // Each replica reconnects by itself; the grant was kept by Redis's append-only file.
    for (const origin of [undefined, a.url, b.url, c.url]) {
      const deadline = Date.now() + 10_000;
      let status = 0;
      while (Date.now() < deadline) {
        status = (await initialize(endpoint, access, origin)).status;
        if (status === 200) break;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      assert.equal(status, 200, `${origin ?? 'nginx'} serves the same token again`);
    }
    for (const replica of replicas) assert.equal((await fetch(`${replica.url}/readyz`)).status, 200, `${replica.url}/readyz: ready again`);
    const refreshed = await refresh(balancer, client.clientId, tokens.body.refresh_token!);
    assert.equal(refreshed.status, 200, 'the refresh token survived the restart');
    for (const replica of replicas) assert.ok(replica.output().includes('storage unavailable'), 'each replica logged the outage');
    for (const replica of replicas) assert.doesNotMatch(replica.output(), /unhandled error/);
  });

  test('a replica whose Redis cannot be reached refuses to start, and says so', async () => {
    const port = await freePort();
    const error = await mustNotStart({ REDIS_URL: `redis://:not-logged-password@127.0.0.1:${port}/0` });
    assert.match(error.message, /key2oauth: cannot reach Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:\d+\/0 \(REDIS_URL\)/);
    assert.doesNotMatch(error.message, /not-logged-password/);
  });

  test('a weak deployment secret found in Redis is refused at start-up', async () => {
    const store = await createRedisStorage({ url: redis.url, keyPrefix: 'weak-secret:', sweepIntervalMs: 0 });
    try {
      await store.client.sendCommand(['SET', 'weak-secret:secret', 'password123']);
    } finally {
      await store.close();
    }
    const error = await mustNotStart({ REDIS_URL: redis.url, REDIS_KEY_PREFIX: 'weak-secret:' });
    assert.match(
      error.message,
      /key2oauth: the deployment secret stored in Redis \(weak-secret:secret\) must hold at least 32 random bytes/,
    );
  });
});
