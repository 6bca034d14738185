import type { EndpointKind } from '../endpoint-urls.ts';
import { countGrantsRevoked } from '../metrics.ts';
import { engine, type GrantProps, invalidTokenChallenge, REQUIRED_SCOPES, type Verified, type VerifiedToken } from '../oauth/engine.ts';
import { noteGrantUse } from '../oauth/grant-usage.ts';
import type { Platform } from '../platform.ts';
import type { AnswerRules } from '../upstream/exchange.ts';
import { answerCutShort } from '../upstream/forward.ts';
import type { AnswerOptions } from './stream-keepalive.ts';
import type { StreamLimits } from './stream-limits.ts';

/**
 * Admission of an MCP request, in one place for every carrier (the web one in guard.ts, the Node
 * server's in src/adapters/node/fast-path.ts): the bearer token is read, verified for this
 * endpoint (the engine: record, audience, expiry), its scope checked, its grant's use noted, and a
 * lease taken on the stream limits, held while the answer is open. The carriers then only move
 * bytes (src/upstream/exchange.ts decides how).
 */

/** Who is asking, for the stream limits: the app's counts and the client's address. */
export interface McpClient {
  streams: StreamLimits;
  address: string;
}

export interface Admitted {
  props: GrantProps;
  auth: VerifiedToken;
  /** Released when the answer is closed, however it ends. */
  lease: { release(): void };
}

/**
 * Admits a request with `token`, or says why not:
 * - `null`: no valid token for this endpoint (unknown, expired, revoked, of another endpoint);
 *   the engine's challenge answers it (`engine().challenge()`), so the client authorizes again;
 * - a Response: a refusal to send as it is: 403 `insufficient_scope` for a token without `mcp`
 *   (RFC 6750 §3.1; MCP authorization, scope challenge handling), 429 at the stream limits;
 * - throws a store outage (or rejects with it), which every carrier answers 503 with Retry-After at once.
 *
 * Without a promise when the token check needed no wait (token-cache.ts: a remembered check on
 * Node's SQLite): a carrier that goes on at once checks `instanceof Promise` before awaiting.
 */
export function admit(
  platform: Platform,
  slug: string,
  client: McpClient,
  token: string,
  path: EndpointKind = 'mcp',
): Admitted | Response | null | Promise<Admitted | Response | null> {
  const verifying = engine(platform, slug).verify(token);
  return verifying instanceof Promise
    ? verifying.then((verified) => admitVerified(platform, slug, client, verified, path))
    : admitVerified(platform, slug, client, verifying, path);
}

function admitVerified(
  platform: Platform,
  slug: string,
  client: McpClient,
  verified: Verified | null,
  path: EndpointKind,
): Admitted | Response | null {
  if (!verified) return null;
  if (!REQUIRED_SCOPES.every((scope) => verified.auth.scope.includes(scope))) return engine(platform, slug).insufficientScope(path);
  noteGrantUse(platform, slug, verified.auth.grantId);
  const lease = client.streams.open(verified.auth.grantId, client.address);
  if (!('release' in lease)) {
    platform.log.info('stream limit reached', { slug });
    return lease.jsonRpc('requests are open on this authorization or from your network');
  }
  return { props: verified.props, auth: verified.auth, lease };
}

/** The timers of an answer's body from the settings: what exchange.ts `judgeAnswer` reads, without `streamKeepalive`'s hooks. */
export function answerRules(platform: Platform): AnswerRules {
  return { heartbeatMs: platform.config.sseHeartbeatMs, idleMs: platform.config.upstreamIdleTimeoutMs };
}

/** Heartbeats, the idle timeout and the answer to a body cut short, for an answer's body (stream-keepalive.ts), from the settings. */
export function streamKeepalive(platform: Platform, slug: string): AnswerOptions {
  return {
    ...answerRules(platform),
    onIdle: () => platform.log.info('upstream stream idle; closed', { slug }),
    cutShort: (stalled, error) => answerCutShort(platform, slug, stalled, error),
  };
}

/**
 * The upstream refused the grant's key (401/403): the grant that holds it is useless now. It is
 * revoked, and the answer is the engine's `invalid_token` challenge, so the client authorizes
 * again and the user can paste a new key. Every carrier answers a refused key here.
 */
export async function keyRejected(
  platform: Platform,
  props: GrantProps,
  auth: VerifiedToken,
  status: number,
  path: EndpointKind = 'mcp',
): Promise<Response> {
  platform.log.info('upstream rejected the key; revoking its grant', { slug: props.slug, status });
  await engine(platform, props.slug).helpers().revokeGrant(auth.grantId, props.slug);
  countGrantsRevoked(1);
  return invalidTokenChallenge(
    platform.config.publicUrl,
    props.slug,
    'The upstream MCP server rejected the key; authorize again with a valid one',
    path,
  );
}
