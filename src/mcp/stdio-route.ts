import type { ExchangeRecord } from '../activity/note.ts';
import { messagesUrl } from '../endpoint-urls.ts';
import { jsonRpcError, sentences } from '../http/errors.ts';
import type { GrantProps, VerifiedToken } from '../oauth/engine.ts';
import { grantCredentials } from '../oauth/grant-credentials.ts';
import type { Platform } from '../platform.ts';
import { carryMessageBody } from './message-body.ts';

/**
 * An admitted MCP request for a stdio endpoint (docs/stdio.md): the grant's own process answers
 * it (Platform.stdio, Node only). Never an HTTP upstream: a stdio endpoint has none. A runtime
 * without processes (Workers) says so plainly.
 */
export async function stdioExchange(
  platform: Platform,
  request: Request,
  props: GrantProps,
  auth: VerifiedToken,
  record: ExchangeRecord,
): Promise<Response> {
  if (!platform.stdio) return noProcesses();
  return platform.stdio.serve(await withBodyRead(request, record), {
    slug: props.slug,
    grantId: auth.grantId,
    credentials: grantCredentials(props),
  });
}

/** The request with its body held for the activity record (message-body.ts), as the process gets it. */
async function withBodyRead(request: Request, record: ExchangeRecord): Promise<Request> {
  const carried = await carryMessageBody(request, record);
  if (carried.body === undefined) return carried.request;
  return new Request(request.url, { method: request.method, headers: request.headers, body: carried.body, signal: request.signal });
}

/**
 * The legacy HTTP+SSE transport to a stdio endpoint: `/{slug}/sse` opens the stream (and the
 * grant's process), whose `endpoint` event names `/{slug}/messages?session=…`; messages posted
 * there go to that process. The session is the grant's own: another grant's token finds nothing.
 */
export function stdioLegacy(
  platform: Platform,
  request: Request,
  props: GrantProps,
  auth: VerifiedToken,
  route: 'sse' | 'messages',
  record: ExchangeRecord,
): Promise<Response> {
  if (!platform.stdio) return Promise.resolve(noProcesses());
  const grant = { slug: props.slug, grantId: auth.grantId, credentials: grantCredentials(props) };
  if (route === 'sse') {
    return platform.stdio.legacyStream(grant, (session) =>
      messagesUrl(platform.config.publicUrl, props.slug, new URLSearchParams({ session })),
    );
  }
  const session = new URL(request.url).searchParams.get('session');
  if (!session) return Promise.resolve(jsonRpcError(400, 'This message URL is incomplete; open the SSE stream again to get a new one'));
  const stdio = platform.stdio;
  return withBodyRead(request, record).then((read) => stdio.legacyMessage(read, grant, session));
}

export function noProcesses(): Response {
  return jsonRpcError(501, sentences.noProcesses, -32000);
}
