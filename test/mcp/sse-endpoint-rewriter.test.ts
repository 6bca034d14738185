import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { endpointRewriter } from '../../src/mcp/sse-endpoint-rewriter.ts';

const encoder = new TextEncoder();

/** Runs `input` through the rewriter cut into the given chunks; returns the output bytes as text and the chunks seen. */
async function run(
  input: string | Uint8Array,
  cuts: number[],
  rewrite = async (data: string) => `https://proxy.example/s/messages?to=${encodeURIComponent(data)}`,
) {
  const bytes = typeof input === 'string' ? encoder.encode(input) : input;
  const chunks: Uint8Array[] = [];
  let last = 0;
  for (const cut of [...cuts, bytes.length]) {
    chunks.push(bytes.slice(last, cut));
    last = cut;
  }
  const source = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(chunk);
      controller.close();
    },
  });
  const out: Uint8Array[] = [];
  const reader = source.pipeThrough(endpointRewriter(rewrite)).getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    out.push(value);
  }
  const joined = new Uint8Array(out.reduce((n, c) => n + c.length, 0));
  let offset = 0;
  for (const chunk of out) {
    joined.set(chunk, offset);
    offset += chunk.length;
  }
  return { text: new TextDecoder().decode(joined), bytes: joined, chunks: out };
}

const REWRITTEN = 'event: endpoint\ndata: https://proxy.example/s/messages?to=%2Fmessages%3FsessionId%3Dabc\n\n';

describe('the legacy SSE endpoint rewriter', () => {
  test('rewrites the endpoint event and passes every later byte through unchanged, however the stream is cut', async () => {
    for (const newline of ['\n', '\r\n', '\r']) {
      const head = `event: endpoint${newline}data: /messages?sessionId=abc${newline}${newline}`;
      const tail = `event: message${newline}id: 7${newline}data: {"jsonrpc":"2.0","id":1,"result":{"text":"héllo ✓"}}${newline}${newline}: comment${newline}retry: 2500${newline}${newline}`;
      const input = head + tail;
      const length = encoder.encode(input).length;
      for (let cut = 1; cut < length; cut++) {
        const { text } = await run(input, [cut]);
        assert.equal(text, REWRITTEN + tail, `newline ${JSON.stringify(newline)}, cut at ${cut}`);
      }
      const byteByByte = await run(
        input,
        Array.from({ length: length - 1 }, (_, i) => i + 1),
      );
      assert.equal(byteByByte.text, REWRITTEN + tail);
    }
  });

  test('events before the endpoint event are relayed verbatim; its id is kept', async () => {
    const before = ': hello\n\nevent: ping\ndata: 1\n\n';
    const { text } = await run(`${before}id: 42\nevent: endpoint\ndata: /messages?sessionId=abc\n\nevent: message\ndata: x\n\n`, [5, 30]);
    assert.equal(text, `${before}id: 42\n${REWRITTEN}event: message\ndata: x\n\n`);
  });

  test('only the first endpoint event is rewritten', async () => {
    const later = 'event: endpoint\ndata: /other\n\n';
    const { text } = await run(`event: endpoint\ndata: /messages?sessionId=abc\n\n${later}`, []);
    assert.equal(text, REWRITTEN + later);
  });

  test('after the endpoint event, chunks are relayed as they come, not regrouped', async () => {
    const input = 'event: endpoint\ndata: /messages?sessionId=abc\n\nevent: message\ndata: 1\n\nevent: message\ndata: 2\n\n';
    const headLength = 'event: endpoint\ndata: /messages?sessionId=abc\n\n'.length;
    const { chunks } = await run(input, [headLength, headLength + 10, headLength + 24]);
    assert.deepEqual(
      chunks.slice(1).map((chunk) => new TextDecoder().decode(chunk)),
      ['event: mes', 'sage\ndata: 1\n\n', 'event: message\ndata: 2\n\n'],
    );
  });

  test('a refused endpoint errors the stream; so does a stream that never names one', async () => {
    await assert.rejects(
      run('event: endpoint\ndata: https://elsewhere.example/steal\n\n', [], async () => {
        throw new Error('refused');
      }),
      /refused/,
    );
    await assert.rejects(run(': padding\n'.repeat(8000), []), /no endpoint event/);
  });

  test('a stream that ends before any endpoint event passes through what it had', async () => {
    const { text } = await run('event: message\ndata: 1\n\nevent: incompl', [3]);
    assert.equal(text, 'event: message\ndata: 1\n\nevent: incompl');
  });
});
