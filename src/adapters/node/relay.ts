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
import type { UpstreamDispatch } from './guarded-fetch.ts';
import { type Answering, answerHeaders, logAnswer, sendResponse } from './send-response.ts';

export interface Relaying extends Answering {
  slug: string;
  props: GrantProps;
  auth: VerifiedToken;
  /** The stream-limit lease, released when the answer is closed, however it ends. */
  lease: { release(): void };
  countStreams: boolean;
  upstreamDispatch: UpstreamDispatch;
}

/**
 * One MCP request to the upstream and its answer back, through undici's `dispatch` (its lowest
 * level: the handler below gets the status, headers and chunks, and no stream object is built for
 * the answer; about an eighth less CPU per message than its `request`): what src/upstream/forward.ts
 * and the guard's body handling do with web streams, by the same rules and with the same helpers.
 * - Towards the upstream: the allowlisted headers, `Accept-Encoding: identity`, the key; the body
 *   piped as it comes, counted against MAX_MCP_BODY_BYTES when its length was not declared (a
 *   declared length is enforced by Node's parser, and was checked before).
 * - The first-byte timer answers 504; a client that leaves aborts the upstream request at once.
 * - A 401/403 revokes the grant (the challenge makes the client authorize again); a redirect is
 *   refused; anything else is relayed with the allowlisted headers, event by event, with
 *   backpressure, heartbeats on a quiet event stream and the idle timeout.
 */
export function relay(relaying: Relaying, req: IncomingMessage, res: ServerResponse): void {
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

  let controller: Dispatcher.DispatchController | undefined;
  let firstByteTimedOut = false;
  let clientLeft = false;
  /** Set once the upstream's answer is not relayed (a 401/403, a redirect, a body over the limit). */
  let replaced = false;
  let watch: StreamWatch | undefined;
  let countedStream = false;
  const answerInstead = (response: Response | Promise<Response>) => {
    replaced = true;
    controller?.abort(new Error('answered by the proxy'));
    lease.release();
    void Promise.resolve(response).then((answer) => sendResponse(res, answer, relaying));
  };
  // The first-byte timer ends the upstream request when no headers came in time: 504.
  const timer = setTimeout(() => {
    firstByteTimedOut = true;
    if (controller) controller.abort(new Error('first byte timeout'));
    else answerInstead(upstreamFailure(platform, new URL(url).host, undefined, true, false));
  }, config.upstreamFirstByteTimeoutMs);
  res.once('close', () => {
    watch?.stop();
    lease.release();
    if (countedStream) streamClosed();
    if (res.writableFinished) return;
    // The client left: the upstream request ends at once.
    clientLeft = true;
    controller?.abort(new Error('client left'));
  });

  const sent = performance.now();
  const handler: Dispatcher.DispatchHandler = {
    onRequestStart(started) {
      controller = started;
      if (clientLeft || replaced) started.abort(new Error('client left'));
    },
    onResponseStart(_controller, status, upstreamHeaders) {
      if (status < 200 || replaced) return;
      clearTimeout(timer);
      const upstreamMs = performance.now() - sent;
      observeUpstreamLatency(upstreamMs / 1000);
      if (tooLarge) return answerInstead(mcpTooLarge(config.maxMcpBodyBytes));
      if (isRedirect(status)) return answerInstead(redirectRefused(status));
      if (status === 401 || status === 403) return answerInstead(keyRejected(platform, props, relaying.auth, status));

      const nullBody = isNullBodyStatus(status);
      const contentType = upstreamHeaders['content-type'];
      const timing = nullBody
        ? null
        : streamTiming(typeof contentType === 'string' ? contentType : undefined, streamKeepalive(platform, relaying.slug));
      // A declared coding means the length is the upstream's framing; heartbeats add bytes too.
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
        platform.log.warn('upstream answer not relayed', { reason: (error as Error).message });
        return answerInstead(upstreamFailure(platform, new URL(url).host, error, false, false));
      }
      logAnswer(relaying, status, timingHeader);
      if (nullBody) {
        replaced = true;
        controller?.abort(new Error('no body'));
        res.end();
        return;
      }
      countedStream = relaying.countStreams && isEventStream(contentType as string | undefined);
      if (countedStream) streamOpened();
      if (timing)
        watch = new StreamWatch(timing, {
          heartbeat: (bytes) => {
            res.write(bytes);
          },
          idle: () => {
            streamKeepalive(platform, relaying.slug).onIdle?.();
            replaced = true;
            controller?.abort(new Error('upstream idle'));
            res.end();
          },
        });
      res.on('drain', () => controller?.resume());
    },
    onResponseData(paused, chunk) {
      if (replaced) return;
      watch?.chunk(chunk);
      if (!res.write(chunk)) paused.pause();
    },
    onResponseEnd() {
      if (replaced) return;
      watch?.stop();
      res.end();
    },
    onResponseError(_controller, error) {
      clearTimeout(timer);
      watch?.stop();
      if (replaced || clientLeft) return;
      if (res.headersSent) {
        // The upstream broke off mid-answer: logged, and the client sees its connection end, as with the app.
        platform.log.error('relaying the answer failed', { slug: relaying.slug, reason: describeUpstreamError(error) });
        res.destroy();
        return;
      }
      if (tooLarge) return answerInstead(mcpTooLarge(config.maxMcpBodyBytes));
      answerInstead(upstreamFailure(platform, new URL(url).host, error, firstByteTimedOut, false));
    },
  };
  try {
    relaying.upstreamDispatch(url, { method: req.method as Dispatcher.HttpMethod, headers, body }, handler);
  } catch (error) {
    // The URL policy refused it before any connection.
    clearTimeout(timer);
    answerInstead(upstreamFailure(platform, new URL(url).host, error, false, false));
  }
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
