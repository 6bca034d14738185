import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { isEventStream } from '../../http/access-log.ts';
import { mcpTooLarge, PayloadTooLargeError } from '../../http/body-limits.ts';
import { keyRejected, streamKeepalive } from '../../mcp/guard.ts';
import { StreamWatch, streamTiming } from '../../mcp/stream-keepalive.ts';
import { observeUpstreamLatency, streamClosed, streamOpened } from '../../metrics.ts';
import type { GrantProps, VerifiedToken } from '../../oauth/engine.ts';
import { isNullBodyStatus, isRedirect, redirectRefused, serverTiming, upstreamFailure } from '../../upstream/forward.ts';
import {
  EXPOSED_RESPONSE_HEADERS,
  forwardsRequestHeader,
  relayedResponseHeader,
  UPSTREAM_ACCEPT_ENCODING,
} from '../../upstream/headers.ts';
import { describeUpstreamError } from '../../upstream/network-error.ts';
import { keyHeader } from '../../upstream/target.ts';
import type { UpstreamRequest } from './guarded-fetch.ts';
import { type Answering, answerHeaders, logAnswer, sendResponse } from './send-response.ts';

export interface Relaying extends Answering {
  slug: string;
  props: GrantProps;
  auth: VerifiedToken;
  /** The stream-limit lease, released when the answer is closed, however it ends. */
  lease: { release(): void };
  countStreams: boolean;
  upstreamRequest: UpstreamRequest;
}

/**
 * One MCP request to the upstream and its answer back, on Node streams: what src/upstream/forward.ts
 * and the guard's body handling do with web streams, by the same rules and with the same helpers.
 * - Towards the upstream: the allowlisted headers, `Accept-Encoding: identity`, the key; the body
 *   piped as it comes, counted against MAX_MCP_BODY_BYTES when its length was not declared (a
 *   declared length is enforced by Node's parser, and was checked before).
 * - The first-byte timer answers 504; a client that leaves aborts the upstream request at once.
 * - A 401/403 revokes the grant (the challenge makes the client authorize again); a redirect is
 *   refused; anything else is relayed with the allowlisted headers, event by event, with
 *   backpressure, heartbeats on a quiet event stream and the idle timeout.
 */
export async function relay(relaying: Relaying, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const { platform, props, lease } = relaying;
  const { config } = platform;
  const url = props.upstream.url;

  const headers: Record<string, string> = {};
  for (const name in req.headers) {
    const value = req.headers[name];
    if (typeof value === 'string' && forwardsRequestHeader(name)) headers[name] = value;
  }
  headers['accept-encoding'] = UPSTREAM_ACCEPT_ENCODING;
  const key = keyHeader(props.upstream, props.apiKey);
  headers[key.name.toLowerCase()] = key.value;

  let body: Readable | null = null;
  let tooLarge = false;
  if (req.method === 'POST') {
    const declared = req.headers['content-length'];
    if (declared !== undefined) {
      headers['content-length'] = declared;
      body = req;
    } else {
      body = Readable.from(
        counted(req, config.maxMcpBodyBytes, () => {
          tooLarge = true;
        }),
      );
    }
  }

  // One abort for both reasons the upstream request ends early: the client left, or no headers in time.
  const abort = new AbortController();
  let firstByteTimedOut = false;
  let clientLeft = false;
  res.once('close', () => {
    if (res.writableFinished) return;
    clientLeft = true;
    abort.abort();
  });
  const timer = setTimeout(() => {
    firstByteTimedOut = true;
    abort.abort();
  }, config.upstreamFirstByteTimeoutMs);

  let answer: Dispatcher.ResponseData;
  const sent = performance.now();
  try {
    answer = await relaying.upstreamRequest(url, { method: req.method as Dispatcher.HttpMethod, headers, body, signal: abort.signal });
  } catch (error) {
    lease.release();
    if (clientLeft) return;
    if (tooLarge) return sendResponse(res, mcpTooLarge(config.maxMcpBodyBytes), relaying);
    return sendResponse(res, upstreamFailure(platform, new URL(url).host, error, firstByteTimedOut, false), relaying);
  } finally {
    clearTimeout(timer);
  }
  const upstreamMs = performance.now() - sent;
  observeUpstreamLatency(upstreamMs / 1000);
  const { statusCode: status, headers: upstreamHeaders, body: upstreamBody } = answer;

  if (status === 401 || status === 403 || isRedirect(status) || tooLarge) {
    discard(upstreamBody);
    const response = tooLarge
      ? mcpTooLarge(config.maxMcpBodyBytes)
      : isRedirect(status)
        ? redirectRefused(status)
        : await keyRejected(platform, props, relaying.auth, status);
    lease.release();
    return sendResponse(res, response, relaying);
  }

  const nullBody = isNullBodyStatus(status);
  const contentType = upstreamHeaders['content-type'];
  const timing = nullBody
    ? null
    : streamTiming(typeof contentType === 'string' ? contentType : undefined, streamKeepalive(platform, relaying.slug));
  // fetch-style decoding never happens here, but a declared coding still means the length is the
  // upstream's framing; heartbeats add bytes too. Either way the length no longer holds.
  const dropLength = upstreamHeaders['content-encoding'] !== undefined || (timing !== null && timing.heartbeatMs > 0);
  const relayed = relayedResponseHeader(upstreamHeaders.connection as string | undefined);
  const out: string[] = [];
  for (const name in upstreamHeaders) {
    if (!relayed(name) || (dropLength && name === 'content-length')) continue;
    const value = upstreamHeaders[name];
    if (Array.isArray(value)) for (const item of value) out.push(name, item);
    else if (value !== undefined) out.push(name, value);
  }
  const timingHeader = serverTiming(upstreamMs);
  out.push('access-control-expose-headers', EXPOSED_RESPONSE_HEADERS, 'server-timing', timingHeader);
  try {
    res.writeHead(status, answerHeaders(status, relaying, out));
  } catch (error) {
    // A header value Node refuses to send (it would not be valid HTTP): the answer cannot be relayed.
    discard(upstreamBody);
    lease.release();
    platform.log.warn('upstream answer not relayed', { reason: (error as Error).message });
    return sendResponse(res, upstreamFailure(platform, new URL(url).host, error, false, false), relaying);
  }
  logAnswer(relaying, status, timingHeader);

  if (nullBody) {
    discard(upstreamBody);
    lease.release();
    res.end();
    return;
  }
  pipeAnswer(relaying, upstreamBody, res, timing, relaying.countStreams && isEventStream(contentType as string | undefined));
}

/**
 * The upstream's body to the client as it comes, with backpressure. Heartbeats and the idle
 * timeout run while it is open; when the client leaves, the upstream request is ended at once.
 */
function pipeAnswer(
  relaying: Relaying,
  from: Readable,
  res: ServerResponse,
  timing: ReturnType<typeof streamTiming>,
  counted: boolean,
): void {
  const { lease } = relaying;
  if (counted) streamOpened();
  const watch = timing
    ? new StreamWatch(timing, {
        heartbeat: (bytes) => {
          res.write(bytes);
        },
        idle: () => {
          streamKeepalive(relaying.platform, relaying.slug).onIdle?.();
          from.destroy();
          res.end();
        },
      })
    : undefined;
  from.on('data', (chunk: Buffer) => {
    watch?.chunk(chunk);
    if (!res.write(chunk)) from.pause();
  });
  res.on('drain', () => from.resume());
  from.once('end', () => {
    watch?.stop();
    res.end();
  });
  from.on('error', (error) => {
    watch?.stop();
    // Our own abort once the client has left is no failure; anything else is the upstream breaking
    // off mid-answer: logged, and the client sees its connection end, as with the app.
    if (res.destroyed) return;
    relaying.platform.log.error('relaying the answer failed', { slug: relaying.slug, reason: describeUpstreamError(error) });
    res.destroy();
  });
  res.once('close', () => {
    watch?.stop();
    lease.release();
    if (counted) streamClosed();
    if (!from.readableEnded) from.destroy();
  });
}

/** Ends an upstream body nobody will read (undici reports its own destruction as an error event). */
function discard(body: Readable): void {
  body.on('error', () => {});
  body.destroy();
}

/** A body of undeclared length, passed on chunk by chunk until it goes past `max` bytes. */
async function* counted(req: IncomingMessage, max: number, onTooLarge: () => void): AsyncGenerator<Buffer> {
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.byteLength;
    if (size > max) {
      onTooLarge();
      throw new PayloadTooLargeError(max);
    }
    yield chunk;
  }
}
