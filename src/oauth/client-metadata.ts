import { type Refusal, rateLimit } from '../http/rate-limit.ts';
import type { Platform } from '../platform.ts';
import { checkUpstreamUrl } from '../upstream/url-policy.ts';
import { putDocumentClient } from './engine.ts';
import { redirectHostProblem } from './redirect-hosts.ts';
import { redirectUriProblem } from './redirect-uri.ts';
import { metadataProblem } from './registration.ts';

/**
 * Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document, sections as in -02;
 * the MCP 2025-11-25 client registration without DCR): a client whose `client_id` is an https URL
 * is described by the JSON document at that URL. We fetch it ourselves, through `Platform.fetchUpstream` like every
 * outbound request (so the address policy applies on both runtimes; the engine's own CIMD support
 * would use the bare global fetch), and hand the engine the result as a public client
 * (`engine.ts` `putDocumentClient`). The authorization page and the token endpoint both come here,
 * so both follow the same rules.
 *
 * Policy: https only (plain http only where ALLOW_PRIVATE_UPSTREAMS allows it, for local testing),
 * never a redirect, at most 5 KiB, a short timeout; `client_id` inside must equal the URL, the
 * redirect URIs pass the same rules as registration, no secrets, public clients only.
 *
 * Caching (§5.2 Metadata Caching lets a server set its own bounds on the lifetime it honours):
 * - fresh: per the document's Cache-Control (at least a minute, Workers KV's floor; at most a day),
 *   the document is used without fetching it again;
 * - stale: for `staleSeconds` (an hour) past freshness, a no-store document included, the last good
 *   copy is still used when a fetch fails or our per-address limit refuses one. Documents are
 *   sometimes briefly broken (a deploy, an outage), and a signed-in client should not lose its
 *   refreshes to that; a publisher who retires a `client_id` waits at most that hour. §5.1 (Metadata
 *   Discovery Errors) says a failed fetch SHOULD abort the request; within this bounded window we
 *   deliberately keep the copy we already verified instead;
 * - a failure is never kept: the next request fetches again at once.
 */
export const DOCUMENT_LIMITS = { bytes: 5 * 1024, timeoutMs: 5000, maxFreshSeconds: 24 * 3600, staleSeconds: 3600 } as const;

/** Workers KV keeps nothing for less than a minute. */
const MIN_STORE_SECONDS = 60;
const freshKey = (url: string) => `cimd-fresh:${url}`;
/** Present while the last good copy may stand in for a failed fetch; the engine's copy lives exactly as long. */
const goodKey = (url: string) => `cimd-good:${url}`;

/**
 * What a client is told about any document that cannot be used once we have tried to fetch it.
 * One sentence, whatever answered (no connection, a timeout, HTTP 401, a bad document): a reason
 * per case would let anyone who names a URL as `client_id` learn whether something listens at a
 * host and port, a port scanner through us (§8.6 SSRF). The reason goes to our log.
 */
export const DOCUMENT_UNUSABLE = 'it could not be fetched, or is not a valid client metadata document';

export type DocumentResult = { ok: true } | { ok: false; reason: string } | { ok: false; limited: Refusal };

/** Whether a `client_id` is meant as a metadata document URL (http ones too, so they are refused with a reason). */
export function isMetadataDocumentUrl(clientId: string | null | undefined): clientId is string {
  return !!clientId && /^https?:\/\//i.test(clientId);
}

/**
 * Makes sure the engine knows the client behind a metadata document URL: from a fresh earlier
 * fetch, by fetching and checking the document now, or from the last good copy when that fetch
 * fails or is over the limit. Returns why it cannot be used otherwise (`limited`: over the limit
 * with no copy to fall back on).
 *
 * `clientAddress` is who asked: anyone can name any URL as `client_id`, at the authorization page
 * and at the token endpoint alike, so fetches are counted per address in one budget for both
 * (RATE_LIMIT_AUTHORIZE_PAGE, bucket `client-metadata`). Only actual fetches count, so a client
 * whose document is fresh spends nothing.
 */
export async function resolveMetadataDocument(platform: Platform, clientId: string, clientAddress: string): Promise<DocumentResult> {
  const { config } = platform;
  // These look only at the URL we were given, so their reasons tell nothing about the network.
  const checked = checkUpstreamUrl(clientId, { allowPrivate: config.allowPrivateUpstreams, allowlist: [] });
  if (!checked.ok) return refused(platform, clientId, checked.reason);
  if (checked.url.href !== clientId) return refused(platform, clientId, 'the client_id URL is not in its normal form');
  if (checked.url.pathname === '/' || checked.url.hash) return refused(platform, clientId, 'a client_id URL needs a path and no fragment');
  if (await platform.kv.get(freshKey(clientId))) return { ok: true };

  // §8.6 SSRF: each fetch is one we make on a stranger's behalf, so they are counted per address.
  const limited = await rateLimit(platform, 'client-metadata', config.rateLimits.authorizePage, clientAddress);
  const lastGood = async () => (await platform.kv.get(goodKey(clientId))) !== null;
  if (limited) return (await lastGood()) ? { ok: true } : { ok: false, limited };

  const fetched = await fetchDocument(platform, clientId);
  if (!fetched.ok) {
    if (await lastGood()) {
      platform.log.info('client metadata document refetch failed; the last good copy is used', {
        document: forLog(clientId),
        reason: fetched.problem,
      });
      return { ok: true };
    }
    return refused(platform, clientId, fetched.problem, DOCUMENT_UNUSABLE);
  }

  const { document: doc, fresh } = fetched;
  const keep = (fresh ?? 0) + DOCUMENT_LIMITS.staleSeconds;
  await putDocumentClient(
    platform,
    {
      clientId,
      clientName: String(doc.client_name),
      redirectUris: doc.redirect_uris as string[],
      ...(typeof doc.client_uri === 'string' ? { clientUri: doc.client_uri } : {}),
      ...(typeof doc.logo_uri === 'string' ? { logoUri: doc.logo_uri } : {}),
      grantTypes: Array.isArray(doc.grant_types) ? (doc.grant_types as string[]) : ['authorization_code'],
    },
    keep,
  );
  await platform.kv.put(goodKey(clientId), '1', { expirationTtl: keep });
  if (fresh !== undefined) await platform.kv.put(freshKey(clientId), '1', { expirationTtl: fresh });
  return { ok: true };
}

type Fetched = { ok: true; document: Record<string, unknown>; fresh: number | undefined } | { ok: false; problem: string };

/** One fetch of the document and every check of it; `problem` is for our log only. */
async function fetchDocument(platform: Platform, clientId: string): Promise<Fetched> {
  let response: Response;
  try {
    response = await platform.fetchUpstream(clientId, {
      method: 'GET',
      headers: { accept: 'application/json' },
      signal: AbortSignal.timeout(DOCUMENT_LIMITS.timeoutMs),
    });
  } catch (error) {
    const timedOut = error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError');
    return { ok: false, problem: timedOut ? `it did not answer within ${DOCUMENT_LIMITS.timeoutMs / 1000} s` : 'it could not be reached' };
  }
  // §5 Client Information Discovery: only 200 is a document, and redirects are not followed.
  if (response.status >= 300 && response.status < 400) {
    await response.body?.cancel();
    return { ok: false, problem: `it answered with a redirect (HTTP ${response.status}), and redirects are not followed` };
  }
  if (response.status !== 200) {
    await response.body?.cancel();
    return { ok: false, problem: `it answered HTTP ${response.status}` };
  }
  // §8.7 Maximum Response Size: a document is small, and reading more costs us.
  const text = await readCapped(response, DOCUMENT_LIMITS.bytes);
  if (text === undefined) return { ok: false, problem: `it is larger than ${DOCUMENT_LIMITS.bytes} bytes` };
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch {
    return { ok: false, problem: 'it is not JSON' };
  }
  const problem =
    documentProblem(clientId, document) ??
    redirectHostProblem(platform.config.allowedClientRedirectHosts, (document as { redirect_uris?: unknown }).redirect_uris);
  if (problem) return { ok: false, problem };
  return { ok: true, document: document as Record<string, unknown>, fresh: freshSeconds(response.headers) };
}

/** A refusal: the detail to our log (info: the app's fault, not ours), `reason` to the client. */
function refused(platform: Platform, clientId: string, detail: string, reason = detail): DocumentResult {
  platform.log.info('client metadata document refused', { document: forLog(clientId), reason: detail });
  return { ok: false, reason };
}

/** Which document, for the log: its origin and path (a query string may carry anything). */
function forLog(clientId: string): string {
  try {
    const url = new URL(clientId);
    return `${url.origin}${url.pathname}`.slice(0, 300);
  } catch {
    return '(not a URL)';
  }
}

/** The host a consent page names as the app's verified identity. */
export function documentHost(clientId: string): string {
  return new URL(clientId).host;
}

function documentProblem(url: string, document: unknown): string | undefined {
  if (!document || typeof document !== 'object' || Array.isArray(document)) return 'it is not a JSON object';
  const doc = document as Record<string, unknown>;
  if (doc.client_id !== url) return `client_id ${JSON.stringify(String(doc.client_id).slice(0, 100))} does not match the document's URL`;
  if (typeof doc.client_name !== 'string' || !doc.client_name.trim()) return 'client_name is required';
  if ('client_secret' in doc || 'client_secret_expires_at' in doc) return 'it contains a client secret, which a public document must not';
  const method = doc.token_endpoint_auth_method;
  if (method !== undefined && method !== 'none') return `token_endpoint_auth_method must be "none" (this server takes public clients only)`;
  if (!Array.isArray(doc.redirect_uris) || doc.redirect_uris.length === 0) return 'redirect_uris is required';
  for (const uri of doc.redirect_uris) {
    const uriProblem = redirectUriProblem(uri);
    if (uriProblem) return uriProblem;
  }
  const grants = doc.grant_types;
  if (
    grants !== undefined &&
    (!Array.isArray(grants) || grants.some((grant) => grant !== 'authorization_code' && grant !== 'refresh_token'))
  )
    return 'grant_types may list only authorization_code and refresh_token';
  return metadataProblem(doc);
}

/** How long a document may be used without fetching it again, per its Cache-Control; undefined: not at all. */
function freshSeconds(headers: Headers): number | undefined {
  const cacheControl = headers.get('cache-control') ?? '';
  if (/(?:^|,)\s*(?:no-store|no-cache|private)\b/i.test(cacheControl)) return undefined;
  const directive = /(?:^|,)\s*s-maxage\s*=\s*"?(\d+)/i.exec(cacheControl) ?? /(?:^|,)\s*max-age\s*=\s*"?(\d+)/i.exec(cacheControl);
  if (!directive) return undefined;
  const seconds = Math.min(Number(directive[1]) - Number(headers.get('age') ?? 0), DOCUMENT_LIMITS.maxFreshSeconds);
  return seconds >= MIN_STORE_SECONDS ? seconds : undefined;
}

/** The body as text, or undefined once it exceeds `limit` bytes (the rest is not read). */
async function readCapped(response: Response, limit: number): Promise<string | undefined> {
  if (Number(response.headers.get('content-length') ?? 0) > limit) {
    await response.body?.cancel();
    return undefined;
  }
  if (!response.body) return '';
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel();
      return undefined;
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return new TextDecoder().decode(bytes);
}
