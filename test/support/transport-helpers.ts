import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { Client, type ClientOptions } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { Browser } from './browser.ts';
import { approveInBrowser, TestOAuthProvider } from './oauth-client.ts';

/** Shared steps of the transport suites: endpoints, tokens, raw SSE reading, bounded waiting. */

export { mustCreateEndpoint as createEndpoint } from './api.ts';

/**
 * The OAuth flow up to the tokens, driven by the SDK's Streamable HTTP client (its first request
 * meets the 401): works for every endpoint, whatever its upstream speaks.
 */
export async function authorize(endpoint: string, key: string | Record<string, string>): Promise<TestOAuthProvider> {
  const provider = new TestOAuthProvider();
  const transport = new StreamableHTTPClientTransport(new URL(endpoint), { authProvider: provider });
  await new Client({ name: 'authorizing', version: '1' }).connect(transport).then(
    () => {
      throw new Error('connected without authorization');
    },
    (error) => {
      if (!(error instanceof UnauthorizedError)) throw error;
    },
  );
  const code = await approveInBrowser(new Browser(), provider.authorizationUrl!, key);
  await transport.finishAuth(code);
  if (!provider.savedTokens) throw new Error('no tokens after the flow');
  return provider;
}

export function bearer(provider: TestOAuthProvider): string {
  return `Bearer ${provider.savedTokens!.access_token}`;
}

/** An SDK client connected over Streamable HTTP with the provider's tokens. */
export async function connectStreamable(
  url: string,
  options: { provider?: TestOAuthProvider; headers?: Record<string, string>; fetch?: typeof fetch; client?: ClientOptions } = {},
) {
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    ...(options.provider ? { authProvider: options.provider } : {}),
    ...(options.headers ? { requestInit: { headers: options.headers } } : {}),
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
  const client = new Client({ name: 'transport-test', version: '1.0.0' }, options.client);
  await client.connect(transport);
  return { client, transport };
}

export const INITIALIZE = {
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
};

/** Raw MCP POST through the proxy, as a client's HTTP stack would send it. */
export function post(url: string, auth: string, body: unknown, headers: Record<string, string> = {}, signal?: AbortSignal) {
  return fetch(url, {
    method: 'POST',
    headers: { authorization: auth, 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
    body: JSON.stringify(body),
    ...(signal ? { signal } : {}),
  });
}

/** Reads a raw SSE body event by event (eventsource-parser), keeping the text as it came. */
export function sseReader(body: ReadableStream<Uint8Array>) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  const queue: EventSourceMessage[] = [];
  let raw = '';
  let ended = false;
  const parser = createParser({ onEvent: (event) => queue.push(event) });
  return {
    get raw() {
      return raw;
    },
    get ended() {
      return ended;
    },
    /** The next event; rejects when none comes within `timeoutMs` or the stream ends first. */
    async next(timeoutMs = 5000): Promise<EventSourceMessage> {
      const deadline = Date.now() + timeoutMs;
      while (queue.length === 0) {
        const left = deadline - Date.now();
        if (left <= 0) throw new Error('no SSE event in time');
        const { done, value } = await withTimeout(reader.read(), left, 'no SSE event in time');
        if (done) {
          ended = true;
          throw new Error('the SSE stream ended');
        }
        const text = decoder.decode(value, { stream: true });
        raw += text;
        parser.feed(text);
      }
      return queue.shift()!;
    },
    cancel: () => reader.cancel().catch(() => {}),
  };
}

export function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(message)), ms)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Polls `check` every 10 ms until it returns a value, for at most `timeoutMs`. */
export async function waitFor<T>(check: () => T | undefined | false, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
