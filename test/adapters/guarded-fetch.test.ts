import assert from 'node:assert/strict';
import type { LookupAddress } from 'node:dns';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { request, fetch as undiciFetch } from 'undici';
import {
  checkHostResolves,
  createGuardedAgent,
  createGuardedLookup,
  createUpstreamGuard,
  type GuardOptions,
  type Resolver,
} from '../../src/adapters/node/guarded-fetch.ts';
import { UpstreamBlockedError } from '../../src/upstream/url-policy.ts';

interface TestServer {
  port: number;
  /** TCP connections accepted so far: the proof that a refused request never reached the server. */
  connections(): number;
  requests(): number;
  close(): Promise<void>;
}

async function startServer(handler: http.RequestListener = (_req, res) => res.end('upstream says hi')): Promise<TestServer> {
  let connections = 0;
  let requests = 0;
  const server = http.createServer((req, res) => {
    requests++;
    handler(req, res);
  });
  server.on('connection', () => connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    connections: () => connections,
    requests: () => requests,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A resolver that answers from a list of answers in turn (the last one repeats), counting calls. */
function scriptedResolver(...answers: string[][]): Resolver & { calls: number } {
  const resolver = Object.assign(
    ((_hostname, _options, callback) => {
      const answer = answers[Math.min(resolver.calls, answers.length - 1)] ?? [];
      resolver.calls++;
      const addresses: LookupAddress[] = answer.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
      setImmediate(() => callback(null, addresses));
    }) as Resolver,
    { calls: 0 },
  );
  return resolver;
}

function options(overrides: Partial<GuardOptions>): GuardOptions {
  return { allowPrivate: false, allowlist: [], connectTimeoutMs: 2000, ...overrides };
}

test('DNS rebinding: the creation-time check passes, the connection is refused, nothing reaches loopback', async (t) => {
  const server = await startServer();
  t.after(() => server.close());
  const lookup = scriptedResolver(['93.184.216.34'], ['127.0.0.1']);
  const guard = createUpstreamGuard(options({ lookup }));
  t.after(() => guard.close());

  assert.deepEqual(await guard.checkHostResolves('rebind.attacker.com'), { ok: true });
  await assert.rejects(
    guard.fetch(`https://rebind.attacker.com:${server.port}/mcp`, { method: 'POST', body: '{}' }),
    (error: unknown) => error instanceof UpstreamBlockedError && /resolves to a loopback address/.test(error.message),
  );
  assert.equal(lookup.calls, 2, 'the connection resolved the name again instead of trusting the first answer');
  assert.equal(server.connections(), 0);
});

test('a host is refused when any one of its addresses is not public', async (t) => {
  const server = await startServer();
  t.after(() => server.close());
  const lookup = scriptedResolver(['93.184.216.34', '127.0.0.1']);
  const guard = createUpstreamGuard(options({ lookup }));
  t.after(() => guard.close());

  const check = await guard.checkHostResolves('mixed.attacker.com');
  assert.deepEqual(check, {
    ok: false,
    reason: 'The upstream host name resolves to a loopback address; only public internet addresses are allowed.',
  });
  await assert.rejects(guard.fetch(`https://mixed.attacker.com:${server.port}/`, {}), UpstreamBlockedError);
  assert.equal(server.connections(), 0);
});

test('with allowPrivate the same rebinding host reaches the loopback server, over one pooled connection', async (t) => {
  const server = await startServer();
  t.after(() => server.close());
  const lookup = scriptedResolver(['93.184.216.34'], ['127.0.0.1']);
  const guard = createUpstreamGuard(options({ allowPrivate: true, lookup }));
  t.after(() => guard.close());

  assert.deepEqual(await guard.checkHostResolves('rebind.attacker.com'), { ok: true });
  for (let i = 0; i < 3; i++) {
    const response = await guard.fetch(`http://rebind.attacker.com:${server.port}/mcp`, {});
    assert.equal(response.status, 200);
    assert.equal(await response.text(), 'upstream says hi');
    assert.ok(response instanceof Response, 'the global Response class, which Hono recognises');
    // undici returns the socket to the pool a tick after the body ends (plain fetch does the same);
    // without this pause the next request may open a second connection.
    await new Promise((resolve) => setImmediate(resolve));
  }
  assert.equal(server.requests(), 3);
  assert.equal(server.connections(), 1, 'keep-alive reuses the checked connection');
  assert.equal(lookup.calls, 2, 'one creation-time check, one connect-time check');
});

test('allowPrivate still refuses metadata addresses at connect time', async (t) => {
  const lookup = scriptedResolver(['169.254.169.254']);
  const guard = createUpstreamGuard(options({ allowPrivate: true, lookup }));
  t.after(() => guard.close());
  await assert.rejects(
    guard.fetch('http://innocent.example.net/latest/meta-data/', {}),
    (error: unknown) => error instanceof UpstreamBlockedError && /link-local/.test(error.message),
  );
  const check = await guard.checkHostResolves('innocent.example.net');
  assert.equal(check.ok, false);
});

test('IP-literal hosts are checked in the connector, where no resolver is consulted', async (t) => {
  const server = await startServer();
  t.after(() => server.close());
  const lookup = scriptedResolver(['93.184.216.34']);
  const agent = createGuardedAgent(options({ lookup }));
  t.after(() => agent.close());

  // undici's own API: the refusal arrives as itself.
  await assert.rejects(request(`http://127.0.0.1:${server.port}/`, { dispatcher: agent }), UpstreamBlockedError);
  // fetch wraps connection errors as `TypeError: fetch failed`; the refusal must survive as the
  // cause. undici's own fetch: Node's global one bundles another undici than this agent's.
  await assert.rejects(
    undiciFetch(`http://127.0.0.1:${server.port}/`, { dispatcher: agent }),
    (error: unknown) => error instanceof TypeError && error.cause instanceof UpstreamBlockedError,
  );
  assert.equal(lookup.calls, 0);
  assert.equal(server.connections(), 0);
});

test('the guarded fetch refuses disallowed URLs before connecting', async (t) => {
  const server = await startServer();
  t.after(() => server.close());
  const lookup = scriptedResolver(['127.0.0.1']);
  const guard = createUpstreamGuard(options({ lookup }));
  t.after(() => guard.close());

  for (const url of [
    `https://127.0.0.1:${server.port}/`,
    `https://[::ffff:127.0.0.1]:${server.port}/`,
    `http://public.example.net:${server.port}/`,
    `https://localhost:${server.port}/`,
    'data:text/plain,hi',
  ]) {
    await assert.rejects(guard.fetch(url, {}), UpstreamBlockedError, url);
  }
  assert.equal(lookup.calls, 0);
  assert.equal(server.connections(), 0);
});

/** The guard's `dispatch` (the fast path's) as a promise of the whole answer. */
function dispatched(guard: ReturnType<typeof createUpstreamGuard>, url: string, options: { method: string; body?: string }) {
  return new Promise<{ status: number; body: string }>((resolve, reject) => {
    let status = 0;
    const chunks: Buffer[] = [];
    try {
      guard.dispatch(url, options as never, {
        onRequestStart: () => {},
        onResponseStart: (_controller, code) => {
          status = code;
        },
        onResponseData: (_controller, chunk) => void chunks.push(chunk),
        onResponseEnd: () => resolve({ status, body: Buffer.concat(chunks).toString() }),
        onResponseError: (_controller, error) => reject(error),
      });
    } catch (error) {
      reject(error);
    }
  });
}

test("the fast path's undici dispatch obeys the same guard: refused URLs (every time), rebinding, the allowlist", async (t) => {
  const server = await startServer();
  t.after(() => server.close());
  const lookup = scriptedResolver(['93.184.216.34'], ['127.0.0.1']);
  const guard = createUpstreamGuard(options({ lookup }));
  t.after(() => guard.close());

  // Twice each: a remembered verdict must refuse as the first check did.
  for (const url of [`https://127.0.0.1:${server.port}/`, `http://public.example.net:${server.port}/`, 'data:text/plain,hi'])
    for (let attempt = 0; attempt < 2; attempt++)
      await assert.rejects(dispatched(guard, url, { method: 'GET' }), UpstreamBlockedError, url);
  assert.equal(server.connections(), 0);

  assert.deepEqual(await guard.checkHostResolves('rebind.attacker.com'), { ok: true });
  await assert.rejects(
    dispatched(guard, `https://rebind.attacker.com:${server.port}/mcp`, { method: 'POST', body: '{}' }),
    (error: unknown) => error instanceof UpstreamBlockedError && /resolves to a loopback address/.test(error.message),
  );
  assert.equal(server.connections(), 0);

  const allowlisted = createUpstreamGuard(
    options({ allowPrivate: true, allowlist: ['allowed.test'], lookup: scriptedResolver(['127.0.0.1']) }),
  );
  t.after(() => allowlisted.close());
  await assert.rejects(dispatched(allowlisted, `http://other.test:${server.port}/`, { method: 'GET' }), /approved upstream hosts/);
  const answer = await dispatched(allowlisted, `http://allowed.test:${server.port}/mcp?x=1`, { method: 'GET' });
  assert.equal(answer.body, 'upstream says hi');
});

test('redirects are never followed: the 302 itself comes back and its target sees nothing', async (t) => {
  const target = await startServer();
  t.after(() => target.close());
  const redirector = await startServer((_req, res) => {
    res.writeHead(302, { location: `http://127.0.0.1:${target.port}/internal` });
    res.end();
  });
  t.after(() => redirector.close());
  const guard = createUpstreamGuard(options({ allowPrivate: true }));
  t.after(() => guard.close());

  // Even when the caller asks to follow.
  const response = await guard.fetch(`http://127.0.0.1:${redirector.port}/mcp`, { redirect: 'follow' });
  assert.equal(response.status, 302);
  assert.equal(response.headers.get('location'), `http://127.0.0.1:${target.port}/internal`);
  await response.arrayBuffer();
  assert.equal(redirector.requests(), 1);
  assert.equal(target.connections(), 0);
});

test('the allowlist applies to every request, also with allowPrivate', async (t) => {
  const server = await startServer();
  t.after(() => server.close());
  const lookup = scriptedResolver(['127.0.0.1']);
  const guard = createUpstreamGuard(options({ allowPrivate: true, allowlist: ['allowed.test', '*.allowed.test'], lookup }));
  t.after(() => guard.close());

  await assert.rejects(
    guard.fetch(`http://other.test:${server.port}/`, {}),
    (error: unknown) => error instanceof UpstreamBlockedError && /approved upstream hosts/.test(error.message),
  );
  assert.equal(server.connections(), 0);
  const response = await guard.fetch(`http://api.allowed.test:${server.port}/`, {});
  assert.equal(await response.text(), 'upstream says hi');
});

test('happy eyeballs: every address handed to net.connect is checked, and net may try them in turn', async (t) => {
  const server = await startServer();
  t.after(() => server.close());
  // ::1 has no listener (refused or unavailable), so net falls back to 127.0.0.1.
  const lookup = scriptedResolver(['::1', '127.0.0.1']);
  const guard = createUpstreamGuard(options({ allowPrivate: true, lookup }));
  t.after(() => guard.close());
  const response = await guard.fetch(`http://dual.example.net:${server.port}/`, {});
  assert.equal(await response.text(), 'upstream says hi');
});

test('the guarded lookup answers both shapes net.connect asks for, and refuses bad answers', async () => {
  const call = (resolver: Resolver, all: boolean) =>
    new Promise<{ error: Error | null; address: unknown; family?: number }>((resolve) => {
      createGuardedLookup(resolver, false)('host.example.net', { all }, (error, address, family) => resolve({ error, address, family }));
    });

  const good = scriptedResolver(['93.184.216.34', '2606:4700::1111']);
  const all = await call(good, true);
  assert.equal(all.error, null);
  assert.deepEqual(all.address, [
    { address: '93.184.216.34', family: 4 },
    { address: '2606:4700::1111', family: 6 },
  ]);
  const one = await call(good, false);
  assert.deepEqual([one.error, one.address, one.family], [null, '93.184.216.34', 4]);

  for (const answer of [['2606:4700::1111', 'fd00::1'], ['10.0.0.1'], ['127.1'], ['fe80::1%eth0']]) {
    const refused = await call(scriptedResolver(answer), true);
    assert.ok(refused.error instanceof UpstreamBlockedError, answer.join(', '));
  }
  const empty = await call(scriptedResolver([]), true);
  assert.equal((empty.error as NodeJS.ErrnoException).code, 'ENOTFOUND');
  const failing: Resolver = (_hostname, _options, callback) => callback(Object.assign(new Error('boom'), { code: 'EAI_AGAIN' }), []);
  assert.equal((await call(failing, true)).error?.message, 'boom');
});

test('checkHostResolves: literals, lookup failures and a stalled resolver', async () => {
  const lookup = scriptedResolver(['93.184.216.34']);
  const base = { allowPrivate: false, connectTimeoutMs: 100, lookup };
  assert.deepEqual(await checkHostResolves('8.8.8.8', base), { ok: true });
  assert.deepEqual(await checkHostResolves('[2606:4700::1111]', base), { ok: true });
  assert.equal((await checkHostResolves('[::1]', base)).ok, false);
  assert.equal((await checkHostResolves('169.254.169.254', base)).ok, false);
  assert.equal(lookup.calls, 0);

  const failing: Resolver = (_hostname, _options, callback) =>
    callback(Object.assign(new Error('getaddrinfo ENOTFOUND'), { code: 'ENOTFOUND' }), []);
  assert.deepEqual(await checkHostResolves('nope.example.net', { ...base, lookup: failing }), {
    ok: false,
    reason: 'The upstream host name could not be found. Check the spelling.',
  });
  const stalled: Resolver = () => {};
  assert.deepEqual(await checkHostResolves('slow.example.net', { ...base, lookup: stalled }), {
    ok: false,
    reason: 'Looking up the upstream host name timed out.',
  });
});
