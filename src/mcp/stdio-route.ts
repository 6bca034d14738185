import { jsonRpcError, sentences } from '../http/errors.ts';
import type { GrantProps, VerifiedToken } from '../oauth/engine.ts';
import { stdioCredentials } from '../oauth/stdio-credentials.ts';
import type { Platform } from '../platform.ts';

/**
 * An admitted MCP request for a stdio endpoint (docs/stdio.md): the grant's own process answers
 * it (Platform.stdio, Node only). Never an HTTP upstream: a stdio endpoint has none. A runtime
 * without processes (Workers) says so plainly.
 */
export function stdioExchange(platform: Platform, request: Request, props: GrantProps, auth: VerifiedToken): Promise<Response> {
  if (!platform.stdio) return Promise.resolve(noProcesses());
  return platform.stdio.serve(request, { slug: props.slug, grantId: auth.grantId, credentials: stdioCredentials(props) });
}

export function noProcesses(): Response {
  return jsonRpcError(501, sentences.noProcesses, -32000);
}
