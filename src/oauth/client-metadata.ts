import type { Platform } from '../platform.ts';
import { checkUpstreamUrl } from '../upstream/url-policy.ts';
import { putDocumentClient } from './engine.ts';
import { redirectUriProblem } from './redirect-uri.ts';
import { metadataProblem } from './registration.ts';

/**
 * Client ID Metadata Documents (the MCP 2025-11-25 client registration without DCR): a client
 * whose `client_id` is an https URL is described by the JSON document at that URL. We fetch it
 * ourselves, through `Platform.fetchUpstream` like every outbound request (so the address policy
 * applies on both runtimes; the engine's own CIMD support would use the bare global fetch), and
 * hand the engine the result as a public client (`engine.ts` `putDocumentClient`).
 *
 * Policy: https only (plain http only where ALLOW_PRIVATE_UPSTREAMS allows it, for local testing),
 * never a redirect, at most 5 KiB, a short timeout; `client_id` inside must equal the URL, the
 * redirect URIs pass the same rules as registration, no secrets, public clients only. A fresh
 * document (per its Cache-Control, capped at a day) is not fetched again; a failure is never
 * cached, so the next attempt fetches again.
 */
export const DOCUMENT_LIMITS = { bytes: 5 * 1024, timeoutMs: 5000, maxFreshSeconds: 24 * 3600 } as const;

/** Workers KV keeps nothing for less than a minute. */
const MIN_STORE_SECONDS = 60;
/** The engine's copy of the client outlives freshness so a consent page left open still completes; each step re-checks freshness first. */
const CLIENT_COPY_SECONDS = 3600;
const freshKey = (url: string) => `cimd-fresh:${url}`;

export type DocumentResult = { ok: true } | { ok: false; reason: string };

/** Whether a `client_id` is meant as a metadata document URL (http ones too, so they are refused with a reason). */
export function isMetadataDocumentUrl(clientId: string | null | undefined): clientId is string {
  return !!clientId && /^https?:\/\//i.test(clientId);
}

/**
 * Makes sure the engine knows the client behind a metadata document URL: from a fresh earlier
 * fetch, or by fetching and checking the document now. Returns why it cannot be used otherwise.
 */
export async function resolveMetadataDocument(platform: Platform, clientId: string): Promise<DocumentResult> {
  const { config } = platform;
  const checked = checkUpstreamUrl(clientId, { allowPrivate: config.allowPrivateUpstreams, allowlist: [] });
  if (!checked.ok) return { ok: false, reason: checked.reason };
  if (checked.url.href !== clientId) return { ok: false, reason: 'the client_id URL is not in its normal form' };
  if (checked.url.pathname === '/' || checked.url.hash) return { ok: false, reason: 'a client_id URL needs a path and no fragment' };
  if (await platform.kv.get(freshKey(clientId))) return { ok: true };

  let response: Response;
  try {
    response = await platform.fetchUpstream(clientId, {
      method: 'GET',
      headers: { accept: 'application/json' },
      signal: AbortSignal.timeout(DOCUMENT_LIMITS.timeoutMs),
    });
  } catch (error) {
    const timedOut = error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError');
    return { ok: false, reason: timedOut ? `it did not answer within ${DOCUMENT_LIMITS.timeoutMs / 1000} s` : 'it could not be reached' };
  }
  if (response.status >= 300 && response.status < 400) {
    await response.body?.cancel();
    return { ok: false, reason: `it answered with a redirect (HTTP ${response.status}), and redirects are not followed` };
  }
  if (response.status !== 200) {
    await response.body?.cancel();
    return { ok: false, reason: `it answered HTTP ${response.status}` };
  }
  const text = await readCapped(response, DOCUMENT_LIMITS.bytes);
  if (text === undefined) return { ok: false, reason: `it is larger than ${DOCUMENT_LIMITS.bytes} bytes` };
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch {
    return { ok: false, reason: 'it is not JSON' };
  }
  const problem = documentProblem(clientId, document);
  if (problem) return { ok: false, reason: problem };

  const doc = document as Record<string, unknown>;
  const fresh = freshSeconds(response.headers);
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
    Math.max(CLIENT_COPY_SECONDS, fresh ?? 0),
  );
  if (fresh !== undefined) await platform.kv.put(freshKey(clientId), '1', { expirationTtl: fresh });
  return { ok: true };
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
