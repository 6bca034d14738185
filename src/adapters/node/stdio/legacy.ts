import type { TransportSendOptions } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';

/** Where a process's messages go on our side: the SDK's Streamable HTTP transport, or a legacy stream. */
export interface Downstream {
  send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void>;
  close(): Promise<void>;
}

/**
 * The legacy HTTP+SSE transport (MCP 2024-11-05) on our side of a stdio process: one event
 * stream whose first event, `endpoint`, names the URL the client posts its messages to, and a
 * `message` event for each message of the process. The SDK's own `SSEServerTransport` writes to a
 * node:http response, not a web one, so the two event kinds are written here.
 */
export class LegacyStream implements Downstream {
  onmessage?: (message: JSONRPCMessage) => void;
  private controller: ReadableStreamDefaultController<Uint8Array> | undefined;
  private readonly encoder = new TextEncoder();

  readonly id: string;

  constructor(id: string) {
    this.id = id;
  }

  /** The stream's answer; `onClosed` runs when the client goes away. */
  response(messagesUrl: string, onClosed: () => void): Response {
    const body = new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.controller = controller;
        this.event('endpoint', messagesUrl);
      },
      cancel: () => {
        this.controller = undefined;
        onClosed();
      },
    });
    return new Response(body, {
      headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-cache, no-store', connection: 'keep-alive' },
    });
  }

  async send(message: JSONRPCMessage): Promise<void> {
    this.event('message', JSON.stringify(message));
  }

  async close(): Promise<void> {
    try {
      this.controller?.close();
    } catch {}
    this.controller = undefined;
  }

  private event(name: string, data: string): void {
    // JSON.stringify leaves no newline in a message; the URL has none either.
    this.controller?.enqueue(this.encoder.encode(`event: ${name}\ndata: ${data}\n\n`));
  }
}
