import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EventBoundary, keepStreamAlive } from '../../src/mcp/stream-keepalive.ts';

/** SSE heartbeats go only between events; an upstream that goes quiet for too long is ended. */

const encoder = new TextEncoder();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** An upstream body we write to by hand, and whether it was cancelled. */
function upstreamBody() {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  let cancelled = false;
  const body = new ReadableStream<Uint8Array>({
    start: (c) => {
      controller = c;
    },
    cancel: () => {
      cancelled = true;
    },
  });
  return {
    body,
    write: (text: string) => controller.enqueue(encoder.encode(text)),
    end: () => controller.close(),
    cancelled: () => cancelled,
  };
}

async function readAll(response: Response): Promise<string> {
  return new TextDecoder().decode(await response.arrayBuffer());
}

test('a quiet SSE stream gets comment heartbeats between events, never inside one', async () => {
  const upstream = upstreamBody();
  const response = keepStreamAlive(new Response(upstream.body, { headers: { 'content-type': 'text/event-stream' } }), {
    heartbeatMs: 40,
    idleMs: 0,
  });
  const text = readAll(response);
  upstream.write('event: message\ndata: {"a":1}\n\n');
  await sleep(150); // between events: heartbeats
  upstream.write('event: message\ndata: {"b":');
  await sleep(150); // inside an event: none
  upstream.write('2}\r\n\r\n');
  await sleep(150);
  upstream.end();
  const relayed = await text;
  const events = relayed.split(/\r?\n\r?\n/);
  assert.ok(relayed.includes(': keepalive\n\n'), relayed);
  assert.ok(relayed.includes('event: message\ndata: {"b":2}\r\n\r\n'), `the second event arrives whole:\n${relayed}`);
  assert.equal(relayed.replaceAll(': keepalive\n\n', ''), 'event: message\ndata: {"a":1}\n\nevent: message\ndata: {"b":2}\r\n\r\n');
  assert.ok(events.length > 3);
});

test('JSON bodies get no heartbeat', async () => {
  const upstream = upstreamBody();
  const response = keepStreamAlive(new Response(upstream.body, { headers: { 'content-type': 'application/json' } }), {
    heartbeatMs: 20,
    idleMs: 0,
  });
  const text = readAll(response);
  upstream.write('{"jsonrpc":');
  await sleep(100);
  upstream.write('"2.0"}');
  upstream.end();
  assert.equal(await text, '{"jsonrpc":"2.0"}');
});

test('an upstream silent for longer than the idle timeout is cancelled and the client stream ends cleanly', async () => {
  const upstream = upstreamBody();
  let idled = false;
  const response = keepStreamAlive(new Response(upstream.body, { headers: { 'content-type': 'text/event-stream' } }), {
    heartbeatMs: 0,
    idleMs: 120,
    onIdle: () => {
      idled = true;
    },
  });
  const text = readAll(response);
  upstream.write('data: 1\n\n');
  await sleep(80);
  upstream.write('data: 2\n\n'); // activity pushes the deadline out
  assert.equal(await text, 'data: 1\n\ndata: 2\n\n');
  assert.ok(idled);
  assert.ok(upstream.cancelled(), 'the upstream request was ended');
});

test('event boundaries: LF, CRLF and CR line ends', () => {
  const at = (text: string) => {
    const boundary = new EventBoundary();
    boundary.feed(encoder.encode(text));
    return boundary.between;
  };
  assert.equal(at(''), true);
  assert.equal(at('data: x\n'), false);
  assert.equal(at('data: x\n\n'), true);
  assert.equal(at('data: x\r\n\r\n'), true);
  assert.equal(at('data: x\r\r'), true);
  assert.equal(at('data: x\r\n'), false);
  assert.equal(at(': comment\n\ndata: y'), false);
});

test('an SSE answer that declared its length loses the header, since heartbeats may add bytes', async () => {
  const upstream = upstreamBody();
  const response = keepStreamAlive(
    new Response(upstream.body, { headers: { 'content-type': 'text/event-stream', 'content-length': '9', 'mcp-session-id': 's1' } }),
    { heartbeatMs: 30, idleMs: 0 },
  );
  assert.equal(response.headers.get('content-length'), null);
  assert.equal(response.headers.get('mcp-session-id'), 's1');
  upstream.write('data: 1\n\n');
  upstream.end();
  assert.equal(await readAll(response), 'data: 1\n\n');
});
