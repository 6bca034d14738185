import type { Target } from './endpoint.ts';
import type { Findings, Get } from './findings.ts';
import { networkProblem } from './network.ts';

export const INITIALIZE = {
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'key2oauth-doctor', version: '1' } },
};

/** The first request a client sends to the endpoint: an MCP initialize on /mcp, the stream on /sse. */
export function firstRequest(target: Target, headers: Record<string, string> = {}): RequestInit {
  return target.kind === 'mcp'
    ? {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
        body: JSON.stringify(INITIALIZE),
      }
    : { headers: { accept: 'text/event-stream', ...headers } };
}

/**
 * The 401 every client starts from (MCP authorization, RFC 9728 §5.1): its WWW-Authenticate names
 * the protected resource metadata. Returns that URL, or undefined where doctor must stop.
 * The URL must be on the endpoint's own origin: clients compare the two, and a document elsewhere
 * is not this server's word about itself.
 */
export async function readChallenge(get: Get, findings: Findings, target: Target): Promise<string | undefined> {
  let challenge: Response;
  try {
    challenge = await get(target.url, firstRequest(target));
    await challenge.body?.cancel();
  } catch (error) {
    const problem = networkProblem(error);
    findings.fail(
      'reachable',
      problem.fix ? problem.detail : `${target.url} could not be reached (${problem.detail})`,
      problem.fix ?? 'Check the host name, the port, and that the server (or its reverse proxy) is running and reachable from here.',
    );
    return undefined;
  }
  const header = challenge.headers.get('www-authenticate') ?? '';
  const metadataUrl = /resource_metadata="([^"]+)"/.exec(header)?.[1];
  if (challenge.status === 404) {
    findings.fail(
      'challenge',
      `${target.url} answered 404: no endpoint here`,
      target.prefix
        ? `The request reached the server without the ${target.prefix} prefix, or the slug is wrong. Key2OAuth must be served at the root of its own host name; give it its own (sub)domain instead of a path.`
        : 'Check the slug (it was printed when the endpoint was created), and that your reverse proxy forwards the path unchanged.',
    );
    return undefined;
  }
  if (challenge.status !== 401 || !metadataUrl) {
    findings.fail(
      'challenge',
      `without a token ${target.url} answered HTTP ${challenge.status}${header ? ` with WWW-Authenticate: ${header}` : ' with no WWW-Authenticate header'}`,
      'Clients learn where to sign in from a 401 whose WWW-Authenticate names resource_metadata. Make sure nothing in front of Key2OAuth answers for it or drops that header.',
    );
    return undefined;
  }
  findings.pass('challenge', `401 names ${metadataUrl}`);

  const named = URL.canParse(metadataUrl) ? new URL(metadataUrl).origin : metadataUrl;
  if (named !== target.origin) {
    findings.fail(
      'PUBLIC_URL',
      `the server calls itself ${named}, but you reached it at ${target.origin}; clients compare these and stop`,
      `Set PUBLIC_URL=${target.origin} (the origin users paste), and restart.`,
    );
    return undefined;
  }
  findings.pass('PUBLIC_URL', `the server calls itself ${named}, as clients reach it`);
  return metadataUrl;
}
