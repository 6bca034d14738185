import { ACTORS, recordEvent } from '../audit/trail.ts';
import { randomToken, sha256Hex } from '../crypto.ts';
import type { Platform } from '../platform.ts';
import { type CredentialField, headerTemplate, requestPreview } from '../upstream/credentials.ts';
import { detectTransport } from '../upstream/detect.ts';
import { checkUpstreamUrl } from '../upstream/url-policy.ts';
import { urlClashProblem } from './credential-template.ts';
import { displayNameProblem } from './display-name.ts';
import type { Endpoint } from './endpoint.ts';
import { createEndpointInput, firstIssue } from './input.ts';
import { createEndpointStore } from './store.ts';

export type CreateResult =
  | { ok: true; endpoint: Endpoint; manageToken: string; warnings: string[] }
  /** `retryAfter`: seconds, when the upstream may answer later (upstream/detect.ts). */
  | { ok: false; status: 400 | 422 | 503; error: string; message: string; retryAfter?: number };

/**
 * Validates and stores a new endpoint. Shared by the JSON API and the home-page form, so both
 * apply exactly the same rules.
 */
export async function createEndpoint(
  platform: Platform,
  body: unknown,
  by: { actor: string; owner?: string } = { actor: ACTORS.operator },
): Promise<CreateResult> {
  const parsed = createEndpointInput.safeParse(body);
  if (!parsed.success) return invalid(firstIssue(parsed.error));
  const input = parsed.data;

  const checked = await checkUpstream(platform, input.upstream_url);
  if (!checked.ok) return invalid(checked.reason, 'invalid_upstream_url');
  const nameProblem = input.display_name ? displayNameProblem(input.display_name, checked.url.hostname) : undefined;
  if (nameProblem) return invalid(nameProblem);

  const credentials = input.credentials ?? oneHeaderTemplate(input.auth_header_name ?? 'Authorization', input.auth_header_prefix);
  const clash = urlClashProblem(credentials, checked.url.href);
  if (clash) return invalid(clash, 'invalid_upstream_url');
  // Nothing is made for an upstream that is no MCP server or cannot be reached (upstream/detect.ts).
  const detected = await detectTransport(platform, checked.url, input.transport);
  if (!detected.ok) {
    platform.log.info('endpoint refused', { upstream_host: checked.url.host, reason: detected.error, detail: detected.detail ?? '' });
    const { detail: _, ...refusal } = detected;
    return refusal;
  }
  const manageToken = randomToken();
  const endpoint = await createEndpointStore(platform.kv).create({
    upstreamUrl: checked.url.href,
    displayName: input.display_name || checked.url.host,
    credentials,
    transport: detected.transport,
    createdAt: Math.floor(Date.now() / 1000),
    manageTokenHash: await sha256Hex(manageToken),
    ...(by.owner ? { owner: by.owner } : {}),
  });
  platform.log.info('endpoint created', { slug: endpoint.slug, upstream_host: checked.url.host });
  await recordEvent(platform, { actor: by.actor, action: 'endpoint.created', slug: endpoint.slug, detail: `upstream ${checked.url.host}` });
  return { ok: true, endpoint, manageToken, warnings: [] };
}

/**
 * The request an endpoint made from `body` would send upstream, values as placeholders, by the
 * same input rules as creation (the start page's Preview button); nothing is stored or fetched.
 */
export function previewEndpoint(body: unknown): { ok: true; preview: string[] } | { ok: false; message: string } {
  const parsed = createEndpointInput.safeParse(body);
  if (!parsed.success) return { ok: false, message: firstIssue(parsed.error) };
  const input = parsed.data;
  let url: URL;
  try {
    url = new URL(input.upstream_url);
  } catch {
    return { ok: false, message: 'Enter the full URL of the upstream MCP server, such as https://mcp.example.com/mcp.' };
  }
  const credentials = input.credentials ?? oneHeaderTemplate(input.auth_header_name ?? 'Authorization', input.auth_header_prefix);
  const clash = urlClashProblem(credentials, url.href);
  if (clash) return { ok: false, message: clash };
  return { ok: true, preview: requestPreview(credentials, url.href, input.transport === 'sse' ? 'GET' : 'POST') };
}

/** The URL policy, then every address the host resolves to: for creation and for changes alike. */
export async function checkUpstream(platform: Platform, raw: string): Promise<{ ok: true; url: URL } | { ok: false; reason: string }> {
  const { config } = platform;
  const checked = checkUpstreamUrl(raw, { allowPrivate: config.allowPrivateUpstreams, allowlist: config.upstreamAllowlist });
  if (!checked.ok) return checked;
  const hostCheck = await platform.checkUpstreamHost(checked.url.hostname);
  if (!hostCheck.ok) return hostCheck;
  return checked;
}

/** The one-header template of `auth_header_name`/`auth_header_prefix`: `Bearer` by default for Authorization, none otherwise. */
export function oneHeaderTemplate(name: string, prefix: string | undefined): CredentialField[] {
  return headerTemplate(name, prefix ?? (name.toLowerCase() === 'authorization' ? 'Bearer' : ''));
}

function invalid(message: string, error = 'invalid_request'): CreateResult {
  return { ok: false, status: 400, error, message };
}
