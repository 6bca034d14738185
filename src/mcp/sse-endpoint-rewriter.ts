import { createParser, type EventSourceMessage } from 'eventsource-parser';

/** What may come before the `endpoint` event; a stream that sends more without one is refused. */
const MAX_BYTES_BEFORE_ENDPOINT = 64 * 1024;

const CR = 0x0d;
const LF = 0x0a;

/**
 * A byte stream transform that rewrites the first SSE `endpoint` event with `rewrite(data)` and
 * passes every other byte through unchanged, chunk by chunk as it arrives. Until that event has
 * been seen, bytes are held only until their event is complete (events before it are relayed
 * verbatim); after it, chunks are relayed as they are, with no parsing at all. The transform
 * keeps the stream's backpressure (one chunk in flight), so a slow client slows the upstream.
 */
export function endpointRewriter(rewrite: (data: string) => Promise<string>): TransformStream<Uint8Array, Uint8Array> {
  let pending: Uint8Array = new Uint8Array(0);
  let rewritten = false;
  const decoder = new TextDecoder();
  const encoder = new TextEncoder();
  return new TransformStream<Uint8Array, Uint8Array>({
    async transform(chunk, controller) {
      if (rewritten) {
        controller.enqueue(chunk);
        return;
      }
      pending = concat(pending, chunk);
      for (;;) {
        const end = eventEnd(pending);
        if (end === -1) break;
        const block = pending.subarray(0, end);
        pending = pending.subarray(end);
        const event = parseEvent(decoder.decode(block));
        if (event?.event !== 'endpoint') {
          controller.enqueue(block);
          continue;
        }
        const url = await rewrite(event.data);
        const id = event.id === undefined ? '' : `id: ${event.id}\n`;
        controller.enqueue(encoder.encode(`${id}event: endpoint\ndata: ${url}\n\n`));
        rewritten = true;
        if (pending.length > 0) controller.enqueue(pending);
        pending = new Uint8Array(0);
        return;
      }
      if (pending.length > MAX_BYTES_BEFORE_ENDPOINT) throw new Error('no endpoint event at the start of the stream');
    },
    flush(controller) {
      if (pending.length > 0) controller.enqueue(pending);
    },
  });
}

/** The first event in one complete SSE block, parsed by eventsource-parser. */
function parseEvent(text: string): EventSourceMessage | undefined {
  let found: EventSourceMessage | undefined;
  const parser = createParser({
    onEvent: (event) => {
      found ??= event;
    },
  });
  // A block ending in CR CR is complete, but the parser waits for a possible LF after the last CR;
  // one more line end settles it (at worst it adds an empty line, which dispatches nothing).
  parser.feed(`${text}\n`);
  return found;
}

/**
 * Where the first complete event in `bytes` ends (just after the blank line that ends it), or -1.
 * Lines end with CRLF, LF or CR (SSE allows all three); a CR at the very end is undecided until
 * the next byte shows whether an LF follows. Those bytes are ASCII, never part of a UTF-8 sequence.
 */
function eventEnd(bytes: Uint8Array): number {
  let lineStart = true;
  for (let i = 0; i < bytes.length; ) {
    const byte = bytes[i]!;
    if (byte !== CR && byte !== LF) {
      lineStart = false;
      i++;
      continue;
    }
    let length = 1;
    if (byte === CR) {
      if (i + 1 >= bytes.length) return -1;
      if (bytes[i + 1] === LF) length = 2;
    }
    if (lineStart) return i + length;
    lineStart = true;
    i += length;
  }
  return -1;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  const joined = new Uint8Array(a.length + b.length);
  joined.set(a);
  joined.set(b, a.length);
  return joined;
}
