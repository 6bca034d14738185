import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EventBoundary, keepAnswer, keepStreamAlive } from '../../src/mcp/stream-keepalive.ts';
import { WHOLE_ANSWER_MAX_BYTES } from '../../src/upstream/exchange.ts';

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

test('event boundaries do not depend on how the stream is cut into chunks', () => {
  // Where a heartbeat may go must not change with the upstream's chunking: a CR at the end of one
  // chunk and its LF at the start of the next are one line end, and a chunk of line breaks alone
  // continues the line state the one before left.
  const texts = [
    'data: x\n\n',
    'data: x\r\n\r\n',
    'data: x\r\rdata: y\r',
    'event: m\ndata: {"a":1}\n\n: ping\n\ndata: z',
    'a\rb\n\n',
    'data: x\r\n',
    '\r\n\r\n\n',
    'data: x\r\n: c\n\n',
  ];
  const fed = (parts: string[]) => {
    const boundary = new EventBoundary();
    for (const part of parts) boundary.feed(encoder.encode(part));
    return boundary.between;
  };
  for (const text of texts) {
    const whole = fed([text]);
    for (let i = 0; i <= text.length; i++) {
      for (let j = i; j <= text.length; j++) {
        const parts = [text.slice(0, i), text.slice(i, j), text.slice(j)];
        assert.equal(fed(parts), whole, `${JSON.stringify(text)} cut as ${JSON.stringify(parts)}`);
      }
    }
  }
  assert.equal(fed(['data: x\r', '\n']), false, 'CR then LF in the next chunk: one line end');
  assert.equal(fed(['data: x\r', '\n\r\n']), true);
  assert.equal(fed(['data: x\n', '\n']), true);
  assert.equal(fed(['a\r', 'b\n\n']), true);
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

/**
 * keepAnswer: a small JSON answer of declared length is read whole before it is handed on (no
 * stream of ours pumps it), with the same idle timeout and the same onClose; anything else is
 * streamed as before.
 */
/** What keepAnswer is told to answer a body cut short with (forward.ts `answerCutShort` in the app), and the calls it got. */
function cutShortSpy() {
  const calls: boolean[] = [];
  return {
    calls,
    cutShort: (stalled: boolean) => {
      calls.push(stalled);
      return new Response(stalled ? 'stalled' : 'broken', { status: stalled ? 504 : 502 });
    },
  };
}

const json = (length: number | undefined, extra: Record<string, string> = {}) => ({
  'content-type': 'application/json',
  ...(length === undefined ? {} : { 'content-length': String(length) }),
  ...extra,
});

test('a small JSON answer of declared length is read whole, closed before the client reads it, headers and status kept', async () => {
  const upstream = upstreamBody();
  const closed: [number, number | undefined][] = [];
  const answer = keepAnswer(new Response(upstream.body, { status: 201, headers: json(17, { 'mcp-session-id': 's1' }) }), {
    cutShort: cutShortSpy().cutShort,
    heartbeatMs: 20,
    idleMs: 1000,
    onClose: (bytes, status) => closed.push([bytes, status]),
  });
  upstream.write('{"jsonrpc":');
  await sleep(50);
  upstream.write('"2.0"}');
  upstream.end();
  const response = await answer;
  assert.deepEqual(closed, [[17, undefined]], 'onClose once, with the bytes, as soon as the body is read');
  assert.equal(response.status, 201);
  assert.equal(response.headers.get('mcp-session-id'), 's1');
  assert.equal(response.headers.get('content-length'), '17');
  assert.equal(await readAll(response), '{"jsonrpc":"2.0"}', 'no heartbeat in a JSON body');
});

/** A JSON answer of declared length 40 under keepAnswer, with what it told `cutShort` and `onClose`. */
function wholeRead(idleMs: number) {
  const upstream = upstreamBody();
  const closed: [number, number | undefined][] = [];
  const spy = cutShortSpy();
  const answer = keepAnswer(new Response(upstream.body, { headers: json(40) }), {
    cutShort: spy.cutShort,
    heartbeatMs: 0,
    idleMs,
    onClose: (bytes, status) => closed.push([bytes, status]),
  });
  return { upstream, closed, calls: spy.calls, answer };
}

test('a JSON answer that stalls past the idle timeout: the cut-short answer for a stall, the upstream cancelled, the record told', async () => {
  const { upstream, closed, calls, answer } = wholeRead(100);
  upstream.write('{"jsonrpc":');
  await sleep(60);
  upstream.write('"2.0",'); // activity pushes the deadline out
  const response = await answer;
  assert.equal(response.status, 504);
  assert.deepEqual(calls, [true]);
  assert.ok(upstream.cancelled(), 'the upstream request was ended');
  assert.equal(await readAll(response), 'stalled');
  assert.deepEqual(closed, [[7, 504]], 'the record gets the status sent and the bytes of the answer sent instead');
});

test('a JSON answer that breaks off before its declared length: the cut-short answer for a break, the record told', async () => {
  const { upstream, closed, calls, answer } = wholeRead(0);
  upstream.write('{"jsonrpc":');
  upstream.end();
  const response = await answer;
  assert.equal(response.status, 502);
  assert.deepEqual(calls, [false]);
  assert.equal(await readAll(response), 'broken');
  assert.deepEqual(closed, [[6, 502]]);
});

test('an event stream, a JSON answer of undeclared length, a large one and a coded one are streamed as they come', async () => {
  for (const headers of [
    { 'content-type': 'text/event-stream', 'content-length': '9' },
    json(undefined),
    json(WHOLE_ANSWER_MAX_BYTES + 1),
    // The runtime's fetch decodes it: the length declared is the coded body's, not what is read.
    json(5, { 'content-encoding': 'gzip' }),
  ]) {
    const upstream = upstreamBody();
    let closed = false;
    const response = await keepAnswer(new Response(upstream.body, { headers }), {
      cutShort: cutShortSpy().cutShort,
      heartbeatMs: 0,
      idleMs: 0,
      onClose: () => {
        closed = true;
      },
    });
    assert.equal(closed, false, `${JSON.stringify(headers)}: handed on before the upstream has ended`);
    upstream.write('data: 1\n\n');
    upstream.end();
    assert.equal(await readAll(response), 'data: 1\n\n');
    assert.equal(closed, true);
  }
});
