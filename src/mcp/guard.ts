import { ExchangeRecord, noteExchange } from '../activity/note.ts';
import type { EndpointKind } from '../endpoint-urls.ts';
import { createEndpointStore } from '../endpoints/store.ts';
import { bearerToken } from '../http/bearer.ts';
import { answers } from '../http/errors.ts';
import { engine, type GrantProps, type VerifiedToken } from '../oauth/engine.ts';
import { grantCredentials } from '../oauth/grant-credentials.ts';
import type { Platform } from '../platform.ts';
import { answerWithCors } from '../upstream/exchange.ts';
import { forward } from '../upstream/forward.ts';
import { admit, keyRejected, type McpClient, streamKeepalive } from './admission.ts';
import { keepAnswer } from './stream-keepalive.ts';

/**
 * The web carrier's door for every MCP route (`/{slug}/mcp`, and the legacy `/{slug}/sse` and
 * `/{slug}/messages`): admission (admission.ts), then `handler`, whose answer (stream-keepalive.ts
 * `keepAnswer`: a small JSON answer read whole, a stream held open with heartbeats) keeps the idle
 * timeout and releases the stream lease when it ends, and the activity
 * record notes the exchange then (src/activity/note.ts: its messages, status, duration and bytes
 * each way, which `handler` fills in as it goes). The request must be
 * on the resource URL `{PUBLIC_URL}/{slug}/{path}` (the legacy message route hands in a copy).
 *
 * Without a token, the endpoint record is read to answer 404 for an unknown slug instead of a
 * challenge. With one, the token check alone decides (no token is valid for an unknown slug),
 * which keeps the hot path at one store read.
 */
export async function guard(
  platform: Platform,
  slug: string,
  request: Request,
  client: McpClient,
  handler: (props: GrantProps, auth: VerifiedToken, record: ExchangeRecord) => Promise<Response>,
  path: EndpointKind = 'mcp',
): Promise<Response> {
  const authorization = request.headers.get('authorization');
  if (authorization === null && !(await createEndpointStore(platform.kv).get(slug))) {
    return answers.unknownEndpoint();
  }
  const token = request.method === 'OPTIONS' ? undefined : bearerToken(authorization);
  if (!token) return engine(platform, slug).challenge(request, path);
  const admitted = await admit(platform, slug, client, token, path);
  if (admitted === null) return engine(platform, slug).challenge(request, path);
  const origin = request.headers.get('origin');
  if (admitted instanceof Response) return answerWithCors(admitted, origin);
  let response: Response;
  const record = new ExchangeRecord();
  try {
    response = await handler(admitted.props, admitted.auth, record);
  } catch (error) {
    admitted.lease.release();
    throw error;
  }
  const { status } = response;
  return keepAnswer(answerWithCors(response, origin), {
    ...streamKeepalive(platform, slug),
    clientLeft: () => request.signal.aborted,
    onClose: (bytesOut, sent = status) => {
      admitted.lease.release();
      record.bytesOut = bytesOut;
      noteExchange(platform, slug, admitted.auth, record, request.method, (name) => request.headers.get(name), sent);
    },
  });
}

/**
 * Forwards with the grant's credential through the web carrier (forward.ts); a key the upstream refuses
 * revokes the grant (admission.ts `keyRejected`).
 */
export async function forwardWithKey(
  platform: Platform,
  request: Request,
  props: GrantProps,
  auth: VerifiedToken,
  to: { url: string; method?: string; body?: Uint8Array<ArrayBuffer> | undefined },
  path: EndpointKind = 'mcp',
): Promise<Response> {
  const outcome = await forward(platform, request, props.upstream, grantCredentials(props), to);
  if (outcome.kind === 'response') return outcome.response;
  return keyRejected(platform, props, auth, outcome.status, path);
}
