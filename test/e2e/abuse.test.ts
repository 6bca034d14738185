import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { Browser, Page } from '../support/browser.ts';
import { connectWithOAuth } from '../support/oauth-client.ts';
import { authorize, cookieHeader, createEndpoint, mcpPost, postForm, startAuthorization } from '../support/security.ts';
import { type Running, targets } from '../support/targets.ts';
import { startUpstream, type Upstream } from '../support/upstream.ts';

const KEY = 'sk-abuse-0123456789abcdef';

/**
 * Requests "from" another client address: behind a trusted proxy on Node (TRUST_PROXY, last
 * X-Forwarded-For entry); on Workers the address is CF-Connecting-IP, which Cloudflare sets.
 */
let addressHeader = 'x-forwarded-for';
function from(address: string): Record<string, string> {
  return { [addressHeader]: address };
}

function assertRetryAfter(response: Response, max: number) {
  const value = response.headers.get('retry-after');
  assert.match(value ?? '', /^\d+$/, 'Retry-After is a number of seconds');
  assert.ok(Number(value) >= 1 && Number(value) <= max, `Retry-After ${value} within the window`);
}

const registration = (name: string) =>
  JSON.stringify({
    client_name: name,
    redirect_uris: ['http://127.0.0.1:9/callback'],
    token_endpoint_auth_method: 'none',
    grant_types: ['authorization_code'],
  });

for (const target of targets())
  describe(`abuse limits (${target.name})`, () => {
    before(() => {
      addressHeader = target.name === 'node' ? 'x-forwarded-for' : 'cf-connecting-ip';
    });
    describe('rate limits on creation and registration, per client address', () => {
      let server: Running;
      // Creation checks that an MCP server answers (upstream/detect.ts): a real one, wanting a key.
      let upstream: Upstream;
      before(async () => {
        upstream = await startUpstream({ key: KEY });
        server = await target.start({ TRUST_PROXY: 'true', RATE_LIMIT_CREATE: '2/3600', RATE_LIMIT_REGISTER: '2/3600' });
      });
      after(async () => {
        await server?.stop();
        await upstream?.close();
      });

      test('endpoint creation: the third from one address gets 429 with Retry-After (API and form); another address is unaffected', async () => {
        const body = { upstream_url: upstream.url };
        assert.equal((await createEndpoint(server, body, from('198.51.100.1'))).status, 201);
        assert.equal((await createEndpoint(server, body, from('198.51.100.1'))).status, 201);
        const third = await fetch(`${server.url}/api/slugs`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...from('198.51.100.1') },
          body: JSON.stringify(body),
        });
        assert.equal(third.status, 429);
        assertRetryAfter(third, 3600);
        assert.equal(((await third.json()) as { error: string }).error, 'rate_limited');

        const form = await fetch(`${server.url}/`, { method: 'POST', headers: from('198.51.100.1'), body: new URLSearchParams(body) });
        assert.equal(form.status, 429, 'the home-page form shares the limit');
        assertRetryAfter(form, 3600);
        assert.match(await form.text(), /Too many endpoints/);

        assert.equal((await createEndpoint(server, body, from('198.51.100.2'))).status, 201);
      });

      test('an IPv6 client is counted by its /64: new addresses in the same /64 do not reset the limit', async () => {
        const body = { upstream_url: upstream.url };
        assert.equal((await createEndpoint(server, body, from('2001:db8:aa:1::1'))).status, 201);
        assert.equal((await createEndpoint(server, body, from('2001:db8:aa:1:ffff:1234:5678:9abc'))).status, 201);
        assert.equal((await createEndpoint(server, body, from('2001:db8:aa:1::2'))).status, 429);
        assert.equal((await createEndpoint(server, body, from('::ffff:198.51.100.9'))).status, 201);
        assert.equal((await createEndpoint(server, body, from('2001:db8:aa:2::1'))).status, 201, 'the next /64 is someone else');
      });

      test('client registration: the third from one address gets 429 with Retry-After; another address is unaffected', async () => {
        const register = (address: string) =>
          fetch(`${server.url}/oauth/register`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', ...from(address) },
            body: registration('R'),
          });
        assert.equal((await register('203.0.113.1')).status, 201);
        assert.equal((await register('203.0.113.1')).status, 201);
        const third = await register('203.0.113.1');
        assert.equal(third.status, 429);
        assertRetryAfter(third, 3600);
        assert.equal((await register('203.0.113.2')).status, 201);
      });
    });

    describe('rate limits on wrong keys, per sign-in and address and per endpoint', () => {
      let server: Running;
      let upstream: Upstream;
      before(async () => {
        upstream = await startUpstream({ key: KEY });
        server = await target.start({ TRUST_PROXY: 'true', RATE_LIMIT_AUTHORIZE: '2/600', RATE_LIMIT_AUTHORIZE_ENDPOINT: '3/600' });
      });
      after(async () => {
        await server?.stop();
        await upstream?.close();
      });

      function keepCookies(browser: Browser, response: Response) {
        for (const line of response.headers.getSetCookie()) {
          const [pair] = line.split(';');
          const [name, value] = [pair!.slice(0, pair!.indexOf('=')), pair!.slice(pair!.indexOf('=') + 1)];
          if (/max-age=0/i.test(line)) browser.cookies.delete(name);
          else browser.cookies.set(name, value);
        }
      }

      /** Submits a key from `address`; returns the response and the page to continue with (a refused key re-renders it with a fresh handle). */
      async function submit(browser: Browser, page: Page, key: string, address: string) {
        const posted = await postForm(
          page,
          { api_key: key, action: 'approve' },
          { cookie: cookieHeader(browser), origin: server.url, ...from(address) },
        );
        keepCookies(browser, posted);
        // A refused key answers 303 back to the consent page (POST/redirect/GET); a browser follows it.
        const response =
          posted.status === 303
            ? await fetch(new URL(posted.headers.get('location')!, page.url), {
                headers: { cookie: cookieHeader(browser), ...from(address) },
                redirect: 'manual',
              })
            : posted;
        keepCookies(browser, response);
        const body = await response.text();
        return { response, next: body.includes('name="handle"') ? new Page(page.url, response, body) : page };
      }

      test('after two wrong keys in one sign-in from one address, the next gets 429 with Retry-After and is not even sent upstream; another address may go on', async () => {
        const created = await createEndpoint(server, { upstream_url: upstream.url });
        const browser = new Browser();
        let page = await browser.get(await startAuthorization(created.body.mcp_endpoint!));
        for (let attempt = 0; attempt < 2; attempt++) {
          const { response, next } = await submit(browser, page, `wrong-${attempt}`, '192.0.2.1');
          assert.equal(response.status, 401);
          page = next;
        }
        const probes = upstream.requests.length;
        const limited = await submit(browser, page, KEY, '192.0.2.1');
        assert.equal(limited.response.status, 429);
        assertRetryAfter(limited.response, 600);
        assert.equal(upstream.requests.length, probes, 'no key check reached the upstream');

        // The 429 came back as the consent page itself, with a fresh form.
        const other = await submit(browser, limited.next, KEY, '192.0.2.2');
        assert.equal(other.response.status, 302, 'another address is not limited');
      });

      test('one endpoint takes at most N keys per window from all addresses together; other endpoints are unaffected', async () => {
        const created = await createEndpoint(server, { upstream_url: upstream.url });
        const browser = new Browser();
        let page = await browser.get(await startAuthorization(created.body.mcp_endpoint!));
        for (let attempt = 0; attempt < 3; attempt++) {
          const { response, next } = await submit(browser, page, `guess-${attempt}`, `192.0.2.${10 + attempt}`);
          assert.equal(response.status, 401);
          page = next;
        }
        const probes = upstream.requests.length;
        const limited = await submit(browser, page, KEY, '192.0.2.20');
        assert.equal(limited.response.status, 429);
        assertRetryAfter(limited.response, 600);
        assert.match(limited.next.text(), /Too many wrong keys were tried on this endpoint/);
        assert.equal(upstream.requests.length, probes, 'no key check reached the upstream');

        const another = await createEndpoint(server, { upstream_url: upstream.url });
        const fresh = new Browser();
        const otherPage = await fresh.get(await startAuthorization(another.body.mcp_endpoint!));
        const ok = await submit(fresh, otherPage, KEY, '192.0.2.21');
        assert.equal(ok.response.status, 302);
      });
    });

    describe('authorization pages, per client address', () => {
      let server: Running;
      let upstream: Upstream;
      before(async () => {
        upstream = await startUpstream({ key: KEY });
        server = await target.start({ TRUST_PROXY: 'true', RATE_LIMIT_AUTHORIZE_PAGE: '2/600' });
      });
      after(async () => {
        await server?.stop();
        await upstream?.close();
      });

      test('each page stores a consent transaction, so a third from one address gets 429 and stores nothing', async () => {
        const created = await createEndpoint(server, { upstream_url: upstream.url });
        const url = await startAuthorization(created.body.mcp_endpoint!);
        const open = (address: string) => fetch(url, { headers: from(address) });
        for (let attempt = 0; attempt < 2; attempt++) {
          const page = await open('192.0.2.50');
          assert.equal(page.status, 200);
          assert.equal(page.headers.getSetCookie().length, 1, 'a transaction was started');
          await page.body?.cancel();
        }
        const limited = await open('192.0.2.50');
        assert.equal(limited.status, 429);
        assertRetryAfter(limited, 600);
        assert.equal(limited.headers.getSetCookie().length, 0, 'no transaction was started');
        assert.match(await limited.text(), /Too many authorization pages/);
        const other = await open('192.0.2.51');
        assert.equal(other.status, 200);
        await other.body?.cancel();
      });
    });

    describe('body size limits', () => {
      let server: Running;
      let upstream: Upstream;
      let raw: RawUpstream;
      const MAX = 4096;
      const MAX_MCP = 65536;
      before(async () => {
        upstream = await startUpstream({ key: KEY });
        raw = await startRawUpstream(KEY);
        server = await target.start({ MAX_BODY_BYTES: String(MAX), MAX_MCP_BODY_BYTES: String(MAX_MCP) });
      });
      after(async () => {
        await server?.stop();
        await upstream?.close();
        await raw?.close();
      });

      test('every buffered route answers 413 past MAX_BODY_BYTES, declared or chunked', async () => {
        const big = 'x'.repeat(MAX + 1);
        const created = await createEndpoint(server, { upstream_url: upstream.url });
        const routes: [string, string, string][] = [
          ['POST', '/api/slugs', 'application/json'],
          ['PATCH', `/api/slugs/${created.body.slug}`, 'application/json'],
          ['POST', '/oauth/register', 'application/json'],
          ['POST', '/oauth/token', 'application/x-www-form-urlencoded'],
          ['POST', '/authorize', 'application/x-www-form-urlencoded'],
          ['POST', '/', 'application/x-www-form-urlencoded'],
        ];
        for (const [method, path, type] of routes) {
          for (const chunked of [false, true]) {
            const body = chunked ? streamOf([big.slice(0, 1000), big.slice(1000)]) : big;
            const response = await fetch(`${server.url}${path}`, {
              method,
              headers: { 'content-type': type, authorization: `Bearer ${created.body.manage_token}` },
              body,
              duplex: 'half',
            } as RequestInit);
            assert.equal(response.status, 413, `${method} ${path}${chunked ? ' (chunked)' : ''}`);
            assert.equal(response.headers.get('x-content-type-options'), 'nosniff');
            const text = await response.text();
            assert.match(text, /larger than 4096 bytes/);
          }
        }
        const page = await fetch(`${server.url}/authorize`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' },
          body: big,
        });
        assert.equal(page.status, 413);
        assert.match(page.headers.get('content-type') ?? '', /^text\/html/, 'a browser gets a page');
      });

      test('MCP messages above MAX_BODY_BYTES but within MAX_MCP_BODY_BYTES go through', async () => {
        const created = await createEndpoint(server, { upstream_url: upstream.url });
        const { client } = await connectWithOAuth(created.body.mcp_endpoint!, KEY);
        const text = 'y'.repeat(40_000);
        const result = (await client.callTool({ name: 'echo', arguments: { text } })) as { content: { text: string }[] };
        assert.equal(result.content[0]!.text, `echo: ${text}`);
        await client.close();
      });

      test('an MCP body declared too large is refused with 413 before anything is sent upstream', async () => {
        const created = await createEndpoint(server, { upstream_url: raw.url });
        const { accessToken } = await authorize(server, created.body.mcp_endpoint!, KEY);
        const before = raw.requests.length;
        const response = await mcpPost(created.body.mcp_endpoint!, accessToken, 'z'.repeat(MAX_MCP + 1));
        assert.equal(response.status, 413);
        const body = (await response.json()) as { jsonrpc: string; error: { message: string } };
        assert.equal(body.jsonrpc, '2.0');
        assert.match(body.error.message, /larger than 65536 bytes/);
        assert.equal(raw.requests.length, before, 'the upstream saw nothing');
      });

      test('an MCP body is streamed upstream as it arrives, and cut off with 413 once it passes the limit', async () => {
        const created = await createEndpoint(server, { upstream_url: raw.url });
        const { accessToken } = await authorize(server, created.body.mcp_endpoint!, KEY);

        // Streaming: the upstream must see the first part while the client still holds the rest back.
        let release!: () => void;
        const held = new Promise<void>((resolve) => (release = resolve));
        const first = '{"jsonrpc":"2.0","id":1,"method":"ping","params":{"pad":"';
        const body = new ReadableStream<Uint8Array>({
          async start(controller) {
            controller.enqueue(new TextEncoder().encode(first));
            await held;
            controller.enqueue(new TextEncoder().encode('"}}'));
            controller.close();
          },
        });
        raw.resetBytes();
        const pending = mcpPost(created.body.mcp_endpoint!, accessToken, body);
        await raw.waitForBytes(first.length, 5000);
        release();
        const response = await pending;
        assert.equal(response.status, 200);
        assert.deepEqual(await response.json(), { jsonrpc: '2.0', id: 1, result: { bytes: first.length + 3 } });

        // Past the limit without a declared length: cut off, 413, and the upstream never gets a whole body.
        const chunk = 'a'.repeat(8192);
        const chunks = Array.from({ length: Math.ceil((MAX_MCP + 1) / chunk.length) + 1 }, () => chunk);
        const completed = raw.completed;
        const tooBig = await mcpPost(created.body.mcp_endpoint!, accessToken, streamOf(chunks));
        assert.equal(tooBig.status, 413);
        assert.match(((await tooBig.json()) as { error: { message: string } }).error.message, /larger than 65536 bytes/);
        await new Promise((resolve) => setTimeout(resolve, 100));
        assert.equal(raw.completed, completed, 'no oversized body was delivered upstream in full');
        assert.ok(raw.largestBody <= MAX_MCP, `the upstream got at most ${MAX_MCP} bytes (got ${raw.largestBody})`);
      });
    });
  });

function streamOf(parts: string[]): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  let index = 0;
  return new ReadableStream({
    pull(controller) {
      if (index < parts.length) controller.enqueue(encoder.encode(parts[index++]!));
      else controller.close();
    },
  });
}

interface RawUpstream {
  url: string;
  requests: { method: string }[];
  /** Bodies received in full. */
  completed: number;
  /** The most bytes seen in one request body, whole or cut off. */
  largestBody: number;
  /** Waits until the body being received now has at least `count` bytes (since the last resetBytes). */
  waitForBytes(count: number, timeoutMs: number): Promise<void>;
  resetBytes(): void;
  close(): Promise<void>;
}

/**
 * A bare HTTP upstream that takes the key, counts body bytes as they arrive, and answers each
 * complete POST with `{result: {bytes}}` (the key check's `initialize` included).
 */
async function startRawUpstream(key: string): Promise<RawUpstream> {
  let received = 0;
  const waiters: (() => void)[] = [];
  const state: RawUpstream = {
    url: '',
    requests: [],
    completed: 0,
    largestBody: 0,
    waitForBytes: (count, timeoutMs) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`upstream got ${received} of ${count} bytes: the body is being held back, not streamed`)),
          timeoutMs,
        );
        const check = () => {
          if (received < count) return waiters.push(check);
          clearTimeout(timer);
          resolve();
        };
        check();
      }),
    resetBytes: () => {
      received = 0;
    },
    close: async () => {},
  };
  const http: Server = createServer((req, res) => {
    if (req.headers.authorization !== `Bearer ${key}`) {
      res.writeHead(401).end();
      return;
    }
    state.requests.push({ method: req.method ?? '' });
    received = 0;
    let bytes = 0;
    req.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      received = bytes;
      state.largestBody = Math.max(state.largestBody, bytes);
      for (const waiter of waiters.splice(0)) waiter();
    });
    req.on('end', () => {
      state.completed++;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ jsonrpc: '2.0', id: 1, result: { bytes } }));
    });
    req.on('error', () => {});
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  state.url = `http://127.0.0.1:${(http.address() as AddressInfo).port}/mcp`;
  state.close = async () => {
    http.closeAllConnections();
    await new Promise<void>((resolve) => http.close(() => resolve()));
  };
  return state;
}
