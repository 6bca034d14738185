import type { ExchangeRecord } from '../activity/note.ts';

/**
 * A POST's body on the web carrier, held for the activity record (its bytes, and its method and
 * tool, read once the answer has ended):
 * - `readMessageBody`: read whole, and sent on as bytes. A declared length is bounded already
 *   (MAX_MCP_BODY_BYTES, src/http/body-limits.ts), an MCP message is one JSON value the upstream
 *   can only act on whole, and a fixed-length body costs the runtime's fetch less than a stream;
 * - `carryMessageBody`: the same for a declared length; a body of undeclared length stays streamed
 *   as it arrives (its bytes counted against the limit as they pass, http/body-limits.ts), each
 *   chunk kept on the way for the record.
 */
export async function readMessageBody(request: Request, record: ExchangeRecord): Promise<Uint8Array<ArrayBuffer> | undefined> {
  if (request.method !== 'POST' || request.body === null) return undefined;
  const bytes = new Uint8Array(await request.arrayBuffer());
  record.body = bytes;
  record.bytesIn = bytes.byteLength;
  return bytes;
}

export async function carryMessageBody(
  request: Request,
  record: ExchangeRecord,
): Promise<{ request: Request; body?: Uint8Array<ArrayBuffer> }> {
  if (request.method !== 'POST' || request.body === null) return { request };
  if (request.headers.has('content-length')) return { request, body: (await readMessageBody(request, record))! };
  const chunks: Uint8Array[] = [];
  let size = 0;
  const kept = request.body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        chunks.push(chunk);
        size += chunk.byteLength;
        controller.enqueue(chunk);
      },
      flush() {
        const whole = new Uint8Array(size);
        let at = 0;
        for (const chunk of chunks) {
          whole.set(chunk, at);
          at += chunk.byteLength;
        }
        record.body = whole;
        record.bytesIn = size;
      },
    }),
  );
  return { request: new Request(request, { body: kept, duplex: 'half' } as RequestInit) };
}
