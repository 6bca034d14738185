import type { ExchangeRecord } from '../activity/note.ts';

/**
 * A POST's body read whole on the web carrier, for the activity record (its bytes, and its
 * method and tool, read once the answer has ended) and then sent on as bytes. It is bounded
 * already (MAX_MCP_BODY_BYTES, src/http/body-limits.ts), and an MCP message is one JSON value the
 * upstream can only act on whole; a fixed-length body costs the runtime's fetch less than a stream.
 */
export async function readMessageBody(request: Request, record: ExchangeRecord): Promise<Uint8Array<ArrayBuffer> | undefined> {
  if (request.method !== 'POST' || request.body === null) return undefined;
  const bytes = new Uint8Array(await request.arrayBuffer());
  record.body = bytes;
  record.bytesIn = bytes.byteLength;
  return bytes;
}
