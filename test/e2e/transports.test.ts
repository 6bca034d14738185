import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import type { ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { after, before, describe, test } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { killOnExit } from '../support/exit-cleanup.ts';
import { type McpUpstream, startMcpUpstream } from '../support/mcp-upstream.ts';
import type { TestOAuthProvider } from '../support/oauth-client.ts';
import { type Running, targets } from '../support/targets.ts';
import {
  authorize,
  bearer,
  connectStreamable,
  createEndpoint,
  INITIALIZE,
  post,
  sleep,
  sseReader,
  waitFor,
} from '../support/transport-helpers.ts';

const KEY = 'sk-transports-0123456789abcdef';

type Text = { content: { type: string; text: string }[] };

/**
 * Calls the upstream's `progress` tool and acknowledges each notification as it arrives: the
 * upstream sends notification k+1 only after the client has seen k, so the call can only finish
 * if every event is delivered on its own while the tool still runs. Returns per-event delays.
 */
async function stepByStep(client: Client, upstream: McpUpstream, steps: number) {
  const arrivedAt: number[] = [];
  const result = (await client.callTool({ name: 'progress', arguments: { steps } }, undefined, {
    timeout: 20_000,
    onprogress: ({ progress }) => {
      arrivedAt[progress] = performance.now();
      upstream.release(`progress-${progress + 1}`);
    },
  })) as Text;
  assert.equal(result.content[0]!.text, `done after ${steps} steps`);
  const delays: number[] = [];
  for (let k = 1; k <= steps; k++) {
    assert.ok(arrivedAt[k]! >= upstream.progressSentAt[k]!, `event ${k} arrived after it was sent`);
    if (k < steps)
      assert.ok(arrivedAt[k]! < upstream.progressSentAt[k + 1]!, `event ${k} reached the client before event ${k + 1} was sent`);
    delays.push(arrivedAt[k]! - upstream.progressSentAt[k]!);
  }
  return delays;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

for (const target of targets()) {
  describe(`Streamable HTTP, stateful with SSE answers and resumable streams (${target.name})`, () => {
    let upstream: McpUpstream;
    let server: Running;
    let endpoint: string;
    let provider: TestOAuthProvider;

    before(async () => {
      upstream = await startMcpUpstream({ key: KEY, mode: 'stateful-sse', retryMs: 100 });
      server = await target.start();
      const created = await createEndpoint(server, { upstream_url: upstream.url });
      assert.equal(created.transport, 'streamable-http', 'detected as Streamable HTTP');
      endpoint = created.mcp_endpoint!;
      provider = await authorize(endpoint, KEY);
    });
    after(async () => {
      await server?.stop();
      await upstream?.close();
    });

    test('tool calls work, and session id, protocol version, event ids and retry cross unchanged', async () => {
      const { client } = await connectStreamable(endpoint, { provider });
      assert.equal(((await client.callTool({ name: 'echo', arguments: { text: 'hi' } })) as Text).content[0]!.text, 'echo: hi');
      await client.close();

      const response = await post(endpoint, bearer(provider), INITIALIZE, { origin: 'https://inspector.example' });
      assert.equal(response.status, 200);
      assert.match(response.headers.get('content-type') ?? '', /^text\/event-stream/);
      const session = response.headers.get('mcp-session-id');
      assert.ok(session, 'the upstream session id reaches the client');
      assert.match(response.headers.get('access-control-expose-headers') ?? '', /Mcp-Session-Id/i, 'browsers may read the session id');
      const events = sseReader(response.body!);
      const priming = await events.next();
      const answer = await events.next();
      // The upstream's priming event (id + retry, empty data) and the answer, byte for byte as sent.
      assert.match(events.raw, new RegExp(`^id: ${priming.id!.replace(/[.]/g, '\\.')}\nretry: 100\ndata: \n\n`));
      assert.ok(answer.id, 'the answer carries its event id');
      assert.equal(JSON.parse(answer.data).result.protocolVersion, '2025-11-25');
      await events.cancel();

      upstream.requests.length = 0;
      const listed = await post(
        endpoint,
        bearer(provider),
        { jsonrpc: '2.0', id: 2, method: 'tools/list' },
        { 'mcp-session-id': session, 'mcp-protocol-version': '2025-11-25' },
      );
      assert.equal(listed.status, 200);
      await listed.body?.cancel();
      const seen = upstream.requests.at(-1)!.headers;
      assert.equal(seen['mcp-session-id'], session);
      assert.equal(seen['mcp-protocol-version'], '2025-11-25');
      assert.equal(seen.authorization, `Bearer ${KEY}`);
    });

    test('progress notifications arrive one by one while the tool runs, through the proxy as directly', async (t) => {
      const direct = await connectStreamable(upstream.url, { headers: { authorization: `Bearer ${KEY}` } });
      const { client } = await connectStreamable(endpoint, { provider });
      // A first round each to warm up, then the measured one.
      await stepByStep(direct.client, upstream, 3);
      await stepByStep(client, upstream, 3);
      const directDelays = await stepByStep(direct.client, upstream, 10);
      const proxiedDelays = await stepByStep(client, upstream, 10);
      await direct.client.close();
      await client.close();
      t.diagnostic(
        `event delay, median over 10: direct ${median(directDelays).toFixed(2)} ms, through the proxy ${median(proxiedDelays).toFixed(2)} ms`,
      );
      assert.ok(median(proxiedDelays) < 1000, 'events are relayed promptly');
    });

    test('the server asks the client something over the GET stream (elicitation)', async () => {
      upstream.requests.length = 0;
      const { client } = await connectStreamable(endpoint, { provider, client: { capabilities: { elicitation: { form: {} } } } });
      const asked: string[] = [];
      client.setRequestHandler(ElicitRequestSchema, async (request) => {
        asked.push(request.params.message);
        return { action: 'accept', content: { name: 'Ada' } };
      });
      // The SDK opens the GET stream right after initialization; wait until it is there.
      await waitFor(() => upstream.requests.some((r) => r.method === 'GET'), 5000, 'the GET stream');
      const result = (await client.callTool({ name: 'ask', arguments: {} }, undefined, { timeout: 10_000 })) as Text;
      assert.equal(result.content[0]!.text, 'hello Ada');
      assert.deepEqual(asked, ['What is your name?']);
      const get = upstream.requests.find((r) => r.method === 'GET')!;
      assert.match(String(get.headers.accept), /text\/event-stream/);
      assert.ok(get.headers['mcp-session-id'], 'the GET stream belongs to the session');
      await client.close();
    });

    // Needs the upstream to see the dropped POST while its stream is silent, which workerd run
    // locally never notices (Target.capabilities.clientDisconnect, test/support/targets.ts).
    if (target.capabilities.clientDisconnect)
      test('a dropped stream is resumed through the proxy with Last-Event-ID', async () => {
        let dropPost: AbortController | undefined;
        // The client's network drops the tool call's response stream after the first event.
        const droppingFetch: typeof fetch = (url, init) => {
          if (init?.method !== 'POST') return fetch(url, init);
          const drop = new AbortController();
          dropPost = drop;
          return fetch(url, { ...init, signal: init.signal ? AbortSignal.any([init.signal, drop.signal]) : drop.signal });
        };
        const { client } = await connectStreamable(endpoint, { provider, fetch: droppingFetch });
        upstream.requests.length = 0;
        upstream.aborted.length = 0;
        const seen: number[] = [];
        const result = (await client.callTool({ name: 'progress', arguments: { steps: 3 } }, undefined, {
          timeout: 20_000,
          onprogress: ({ progress }) => {
            seen.push(progress);
            if (progress === 1) {
              dropPost!.abort();
              // Steps 2 and 3 happen while the client is away: they must come back on resumption.
              void waitFor(() => upstream.aborted.some((a) => a.method === 'POST'), 5000, 'the upstream to see the drop').then(() => {
                upstream.release('progress-2');
                upstream.release('progress-3');
              });
            }
          },
        })) as Text;
        assert.equal(result.content[0]!.text, 'done after 3 steps');
        assert.deepEqual(seen, [1, 2, 3]);
        const resumed = upstream.requests.find((r) => r.method === 'GET' && r.headers['last-event-id']);
        assert.ok(resumed, 'the client resumed with Last-Event-ID, and the proxy passed it on');
        assert.match(String(resumed.headers['last-event-id']), /\.\d+$/, 'the event id is the upstream’s own');
        await client.close();
      });

    test('DELETE ends the session upstream; the old session id is then unknown', async () => {
      const { client, transport } = await connectStreamable(endpoint, { provider });
      const session = transport.sessionId!;
      assert.ok(session);
      upstream.requests.length = 0;
      await transport.terminateSession();
      const deleted = upstream.requests.find((r) => r.method === 'DELETE');
      assert.equal(deleted?.headers['mcp-session-id'], session);
      const after = await post(
        endpoint,
        bearer(provider),
        { jsonrpc: '2.0', id: 3, method: 'tools/list' },
        { 'mcp-session-id': session, 'mcp-protocol-version': '2025-11-25' },
      );
      assert.equal(after.status, 404, 'the upstream’s 404 for an ended session reaches the client');
      await after.body?.cancel();
      await client.close();
    });

    // Only where an idle client's disconnect can be noticed: workerd run locally learns of it only
    // when a write fails (Target.capabilities.clientDisconnect, test/support/targets.ts).
    if (target.capabilities.clientDisconnect)
      test('a client that disconnects mid-stream ends the upstream request promptly', async (t) => {
        // A session of its own, opened by hand, so this test holds its only GET stream.
        const init = await post(endpoint, bearer(provider), INITIALIZE);
        const headers = { 'mcp-session-id': init.headers.get('mcp-session-id')!, 'mcp-protocol-version': '2025-11-25' };
        await init.body?.cancel();
        await (await post(endpoint, bearer(provider), { jsonrpc: '2.0', method: 'notifications/initialized' }, headers)).body?.cancel();
        upstream.aborted.length = 0;

        // A POST whose SSE answer is still running (the tool waits for a gate that never opens).
        const leaving = new AbortController();
        const call = await post(
          endpoint,
          bearer(provider),
          {
            jsonrpc: '2.0',
            id: 7,
            method: 'tools/call',
            params: { name: 'progress', arguments: { steps: 2 }, _meta: { progressToken: 'p' } },
          },
          headers,
          leaving.signal,
        );
        const events = sseReader(call.body!);
        for (;;) if ((await events.next()).data.includes('notifications/progress')) break;
        const leftAt = performance.now();
        leaving.abort();
        const postGone = await waitFor(() => upstream.aborted.find((a) => a.method === 'POST'), 3000, 'the upstream POST to close');
        const postMs = postGone.at - leftAt;

        // The server-to-client GET stream, likewise.
        const getLeaving = new AbortController();
        const get = await fetch(endpoint, {
          headers: { authorization: bearer(provider), accept: 'text/event-stream', ...headers },
          signal: getLeaving.signal,
        });
        assert.equal(get.status, 200);
        assert.match(get.headers.get('content-type') ?? '', /^text\/event-stream/);
        await sleep(100);
        const getLeftAt = performance.now();
        getLeaving.abort();
        const getGone = await waitFor(() => upstream.aborted.find((a) => a.method === 'GET'), 3000, 'the upstream GET to close');
        const getMs = getGone.at - getLeftAt;
        // And a client that leaves while the upstream has not even answered yet.
        upstream.intercept = (req) => req.method === 'POST' && req.headers['mcp-name'] === 'hang';
        const early = new AbortController();
        const pending = post(
          endpoint,
          bearer(provider),
          { jsonrpc: '2.0', id: 8, method: 'tools/list' },
          { ...headers, 'mcp-name': 'hang' },
          early.signal,
        ).catch(() => undefined);
        try {
          await waitFor(() => upstream.requests.some((r) => r.headers['mcp-name'] === 'hang'), 3000, 'the request to reach the upstream');
          const earlyLeftAt = performance.now();
          early.abort();
          await pending;
          const earlyGone = await waitFor(
            () => upstream.aborted.find((a) => a.method === 'POST' && a !== postGone),
            3000,
            'the unanswered upstream request to close',
          );
          const earlyMs = earlyGone.at - earlyLeftAt;
          t.diagnostic(
            `abort reached the upstream after ${postMs.toFixed(1)} ms (POST stream), ${getMs.toFixed(1)} ms (GET stream), ${earlyMs.toFixed(1)} ms (before any answer)`,
          );
          assert.ok(postMs < 1000 && getMs < 1000 && earlyMs < 1000);
        } finally {
          upstream.intercept = undefined;
        }
        upstream.release('progress-2');
      });

    test('a client that leaves is noticed by the next event at the latest, and the upstream request ends', async () => {
      // Holds on every target, workerd included: there a disconnect is only noticed when a write
      // to the client fails, and the proxy must then cancel the upstream fetch, not keep reading.
      let drip: ReturnType<typeof setInterval> | undefined;
      let stream: ServerResponse | undefined;
      upstream.intercept = (req, res) => {
        if (req.method !== 'POST' || req.headers['mcp-name'] !== 'drip') return false;
        stream = res;
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write('data: {"first":true}\n\n');
        return true;
      };
      upstream.aborted.length = 0;
      const leaving = new AbortController();
      try {
        const call = await post(
          endpoint,
          bearer(provider),
          { jsonrpc: '2.0', id: 9, method: 'tools/list' },
          { 'mcp-name': 'drip' },
          leaving.signal,
        );
        assert.equal(call.status, 200);
        await sseReader(call.body!).next();
        leaving.abort();
        await sleep(200);
        // The upstream speaks again after the client has gone; from then on it must be let go.
        if (!target.capabilities.clientDisconnect)
          assert.deepEqual(upstream.aborted, [], 'the upstream was silent, so workerd could not notice yet');
        const resumedWritingAt = performance.now();
        drip = setInterval(() => {
          if (!stream!.destroyed) stream!.write('data: {"more":true}\n\n');
        }, 100);
        const gone = await waitFor(() => upstream.aborted.find((a) => a.method === 'POST'), 3000, 'the upstream POST to close');
        assert.ok(gone.at - resumedWritingAt < 1000, `closed ${(gone.at - resumedWritingAt).toFixed(0)} ms after the upstream wrote again`);
      } finally {
        clearInterval(drip);
        upstream.intercept = undefined;
      }
    });

    test('a slow reader slows the upstream down: the proxy does not buffer without bound', async (t) => {
      const TOTAL = 256 * 1024 * 1024;
      let written = 0;
      let closed = false;
      upstream.intercept = (req, res) => {
        if (req.method !== 'GET' || req.headers['mcp-session-id'] !== 'flood') return false;
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
        const event = `event: message\ndata: ${'x'.repeat(16 * 1024)}\n\n`;
        const pump = () => {
          while (!res.destroyed && written < TOTAL) {
            written += event.length;
            if (!res.write(event)) return void res.once('drain', pump);
          }
          if (written >= TOTAL) res.end();
        };
        res.on('close', () => (closed = true));
        pump();
        return true;
      };
      try {
        const leaving = new AbortController();
        const response = await fetch(endpoint, {
          headers: { authorization: bearer(provider), accept: 'text/event-stream', 'mcp-session-id': 'flood' },
          signal: leaving.signal,
        });
        assert.equal(response.status, 200);
        const reader = response.body!.getReader();
        await reader.read();
        // Now the client stops reading. Whatever the buffers hold, the upstream must stall.
        await sleep(1500);
        const stalledAt = written;
        await sleep(500);
        const growth = written - stalledAt;
        // Reading slowly: 40 reads of one chunk each, with pauses; the upstream follows the pace.
        for (let i = 0; i < 40; i++) {
          await reader.read();
          await sleep(5);
        }
        t.diagnostic(
          `upstream had written ${(stalledAt / 2 ** 20).toFixed(1)} MiB of ${TOTAL / 2 ** 20} MiB when the reader stalled; ${(growth / 1024).toFixed(0)} KiB more in the next 500 ms`,
        );
        assert.ok(stalledAt < 64 * 2 ** 20, 'in flight at most socket buffers and small stream queues');
        assert.ok(growth < 2 ** 20, 'the upstream is held back while the client does not read');
        leaving.abort();
        await waitFor(() => closed, 3000, 'the upstream stream to close');
      } finally {
        upstream.intercept = undefined;
      }
    });
  });

  describe(`Streamable HTTP, stateful with JSON answers (${target.name})`, () => {
    let upstream: McpUpstream;
    let server: Running;
    let endpoint: string;
    let provider: TestOAuthProvider;

    before(async () => {
      upstream = await startMcpUpstream({ key: KEY, mode: 'stateful-json' });
      server = await target.start();
      endpoint = (await createEndpoint(server, { upstream_url: upstream.url })).mcp_endpoint!;
      provider = await authorize(endpoint, KEY);
    });
    after(async () => {
      await server?.stop();
      await upstream?.close();
    });

    test('tool calls work; answers are JSON, notifications get 202', async () => {
      const { client } = await connectStreamable(endpoint, { provider });
      assert.equal(((await client.callTool({ name: 'echo', arguments: { text: 'json' } })) as Text).content[0]!.text, 'echo: json');
      await client.close();

      const init = await post(endpoint, bearer(provider), INITIALIZE);
      assert.equal(init.status, 200);
      assert.match(init.headers.get('content-type') ?? '', /^application\/json/);
      const session = init.headers.get('mcp-session-id')!;
      assert.ok(session);
      assert.equal(((await init.json()) as { result: { protocolVersion: string } }).result.protocolVersion, '2025-11-25');
      const headers = { 'mcp-session-id': session, 'mcp-protocol-version': '2025-11-25' };
      const notified = await post(endpoint, bearer(provider), { jsonrpc: '2.0', method: 'notifications/initialized' }, headers);
      assert.equal(notified.status, 202);
      assert.equal(await notified.text(), '');
      const called = await post(
        endpoint,
        bearer(provider),
        { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'echo', arguments: { text: 'raw' } } },
        headers,
      );
      assert.equal(called.status, 200);
      assert.match(called.headers.get('content-type') ?? '', /^application\/json/);
      assert.equal(((await called.json()) as { result: Text }).result.content[0]!.text, 'echo: raw');
    });
  });

  describe(`Streamable HTTP, stateless (2026-07-28 style) (${target.name})`, () => {
    let upstream: McpUpstream;
    let server: Running;
    let endpoint: string;
    let provider: TestOAuthProvider;

    before(async () => {
      upstream = await startMcpUpstream({ key: KEY, mode: 'stateless' });
      server = await target.start();
      endpoint = (await createEndpoint(server, { upstream_url: upstream.url })).mcp_endpoint!;
      provider = await authorize(endpoint, KEY);
    });
    after(async () => {
      await server?.stop();
      await upstream?.close();
    });

    test('tool calls work with no session; GET and DELETE get the upstream’s 405', async () => {
      const { client, transport } = await connectStreamable(endpoint, { provider });
      assert.equal(transport.sessionId, undefined, 'no session is invented');
      assert.equal(
        ((await client.callTool({ name: 'echo', arguments: { text: 'stateless' } })) as Text).content[0]!.text,
        'echo: stateless',
      );
      await client.close();

      const get = await fetch(endpoint, { headers: { authorization: bearer(provider), accept: 'text/event-stream' } });
      assert.equal(get.status, 405);
      assert.equal(get.headers.get('allow'), 'POST');
      await get.body?.cancel();
      const del = await fetch(endpoint, { method: 'DELETE', headers: { authorization: bearer(provider) } });
      assert.equal(del.status, 405);
      await del.body?.cancel();
    });

    test('Mcp-Method and Mcp-Name reach the upstream', async () => {
      upstream.requests.length = 0;
      const response = await post(
        endpoint,
        bearer(provider),
        { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo', arguments: { text: 'headers' } } },
        { 'mcp-method': 'tools/call', 'mcp-name': 'echo', 'mcp-protocol-version': '2025-11-25' },
      );
      await response.body?.cancel();
      const seen = upstream.requests.at(-1)!.headers;
      assert.equal(seen['mcp-method'], 'tools/call');
      assert.equal(seen['mcp-name'], 'echo');
      assert.equal(seen['mcp-session-id'], undefined);
    });
  });

  describe(`upstream timeouts (${target.name})`, () => {
    let upstream: McpUpstream;
    let server: Running;
    let endpoint: string;
    let provider: TestOAuthProvider;
    const FIRST_BYTE_MS = 1000;

    before(async () => {
      upstream = await startMcpUpstream({ key: KEY, mode: 'stateful-sse' });
      server = await target.start({ UPSTREAM_FIRST_BYTE_TIMEOUT_MS: String(FIRST_BYTE_MS) });
      endpoint = (await createEndpoint(server, { upstream_url: upstream.url })).mcp_endpoint!;
      provider = await authorize(endpoint, KEY);
    });
    after(async () => {
      await server?.stop();
      await upstream?.close();
    });

    test('an upstream that never answers gets a 504 JSON-RPC error, and the upstream request is ended', async () => {
      upstream.aborted.length = 0;
      upstream.intercept = (req) => req.method === 'POST'; // accepted, never answered
      try {
        const started = performance.now();
        const response = await post(endpoint, bearer(provider), INITIALIZE);
        const elapsed = performance.now() - started;
        assert.equal(response.status, 504);
        const body = (await response.json()) as { jsonrpc: string; id: null; error: { code: number; message: string } };
        assert.equal(body.jsonrpc, '2.0');
        assert.equal(body.error.code, -32000);
        assert.match(body.error.message, /did not answer within 1000 ms/);
        assert.ok(elapsed >= FIRST_BYTE_MS - 50 && elapsed < FIRST_BYTE_MS + 3000, `answered after ${elapsed.toFixed(0)} ms`);
        await waitFor(() => upstream.aborted.some((a) => a.method === 'POST'), 3000, 'the upstream request to be ended');
      } finally {
        upstream.intercept = undefined;
      }
    });

    // UPSTREAM_CONNECT_TIMEOUT_MS exists on Node only: a Worker's fetch has no connect timeout, and
    // the first-byte timeout, tested above on every target, bounds the wait there.
    if (target.capabilities.connectTimeout)
      test('an upstream that does not accept the connection gets a 504 after the connect timeout', async (t) => {
        // A listener whose process is stopped: the kernel completes handshakes only until its
        // backlog is full, then drops SYNs, so the next connect hangs, as it does behind a firewall
        // that drops packets. It takes over the port of an upstream we have already authorized.
        const doomed = await startMcpUpstream({ key: KEY, mode: 'stateful-sse' });
        // Closed on purpose below; closed here too when the test fails before that.
        t.after(() => doomed.close().catch(() => {}));
        const slow = await target.start({ UPSTREAM_CONNECT_TIMEOUT_MS: '500' });
        const listener = { child: undefined as ChildProcess | undefined, fillers: [] as Socket[] };
        try {
          const mcp = (await createEndpoint(slow, { upstream_url: doomed.url })).mcp_endpoint!;
          const token = bearer(await authorize(mcp, KEY));
          const port = Number(new URL(doomed.url).port);
          await doomed.close();
          listener.child = spawn(
            process.execPath,
            [
              '-e',
              `require('node:net').createServer().listen({ port: ${port}, host: '127.0.0.1', backlog: 1 }, () => console.log('listening'))`,
            ],
            { stdio: ['ignore', 'pipe', 'inherit'] },
          );
          killOnExit(listener.child);
          await new Promise<void>((resolve, reject) => {
            listener.child!.stdout!.once('data', () => resolve());
            listener.child!.once('exit', () => reject(new Error('the stand-in listener could not take the port')));
          });
          listener.child.kill('SIGSTOP');
          for (let i = 0; i < 8; i++) listener.fillers.push(connect(port, '127.0.0.1').on('error', () => {}));
          await sleep(200);

          const started = performance.now();
          const response = await post(mcp, token, INITIALIZE);
          const elapsed = performance.now() - started;
          assert.equal(response.status, 504);
          const body = (await response.json()) as { error: { message: string } };
          assert.match(body.error.message, /timed out/);
          assert.ok(elapsed >= 450 && elapsed < 5000, `answered after ${elapsed.toFixed(0)} ms`);
        } finally {
          for (const socket of listener.fillers) socket.destroy();
          listener.child?.kill('SIGKILL');
          await slow.stop();
        }
      });

    test('a stream that lasts longer than the first-byte timeout is not cut', async () => {
      const { client } = await connectStreamable(endpoint, { provider });
      upstream.requests.length = 0;
      upstream.aborted.length = 0;
      const result = (await client.callTool({ name: 'progress', arguments: { steps: 3 } }, undefined, {
        timeout: 20_000,
        onprogress: ({ progress }) => void setTimeout(() => upstream.release(`progress-${progress + 1}`), 800),
      })) as Text;
      // 2 × 800 ms of silence in the middle of the answer, against a 1000 ms first-byte timeout.
      assert.equal(result.content[0]!.text, 'done after 3 steps');
      // Delivered on the one stream: not cut and then rescued by a resumption.
      assert.deepEqual(upstream.aborted, []);
      assert.ok(!upstream.requests.some((r) => r.headers['last-event-id']), 'no resumption was needed');
      await client.close();
    });
  });
}
