import { endpointUrl } from '../endpoint-urls.ts';
import { type CredentialField, requestPreview, singleHeader, templateOf } from '../upstream/credentials.ts';
import type { UpstreamTarget, UpstreamTransport } from '../upstream/target.ts';
import type { ToolCeiling } from '../upstream/tool-policy.ts';

/**
 * An endpoint: one upstream MCP server reachable at `{PUBLIC_URL}/{slug}/mcp`.
 * Records hold no secret: the API key lives only in each grant's encrypted props, and the manage
 * token only as a SHA-256 hash (it is 256 random bits, so a plain hash cannot be reversed).
 */

export interface Endpoint {
  slug: string;
  upstreamUrl: string;
  displayName: string;
  /** Where each value of the credential goes upstream (upstream/credentials.ts); read through `endpointTemplate`. */
  credentials?: CredentialField[];
  /** Records written before templates: the one header that carries the key, e.g. `Authorization`. */
  authHeaderName?: string;
  /** Records written before templates: text before the key, joined by one space (`Bearer`). */
  authHeaderPrefix?: string;
  transport: UpstreamTransport;
  createdAt: number;
  manageTokenHash?: string;
  /** The signed-in person who created it (sign-in configured, docs/teams.md): they manage it from /endpoints. */
  owner?: string;
  /** The creator's ceiling on every grant's tools (`tool_policy`, docs/tools-and-activity.md). */
  toolPolicy?: ToolCeiling;
}

/** The endpoint's credential template; a record of the older shape reads as its one header. */
export function endpointTemplate(endpoint: Endpoint): CredentialField[] {
  return templateOf({ credentials: endpoint.credentials, headerName: endpoint.authHeaderName, headerPrefix: endpoint.authHeaderPrefix });
}

/** The upstream facts a grant needs to forward a request, snapshotted into its encrypted props. */
export function upstreamTarget(endpoint: Endpoint): UpstreamTarget {
  return { url: endpoint.upstreamUrl, credentials: endpointTemplate(endpoint), transport: endpoint.transport };
}

/**
 * The request that opens a session upstream (a POST for Streamable HTTP, the stream's GET for
 * legacy SSE) as every page shows it: values as placeholders, or masked when given.
 */
export function endpointPreview(endpoint: Endpoint, values?: readonly string[]): string[] {
  return requestPreview(endpointTemplate(endpoint), endpoint.upstreamUrl, endpoint.transport === 'sse' ? 'GET' : 'POST', values);
}

/** The public view of an endpoint, as the JSON API returns it (names from the original design). */
export function describeEndpoint(endpoint: Endpoint, publicUrl: string) {
  return {
    slug: endpoint.slug,
    mcp_endpoint: endpointUrl(publicUrl, endpoint.slug),
    sse_endpoint: endpointUrl(publicUrl, endpoint.slug, 'sse'),
    upstream_url: endpoint.upstreamUrl,
    display_name: endpoint.displayName,
    credentials: endpointTemplate(endpoint),
    // The one-header template in the older names; null when the template is anything else.
    auth_header_name: singleHeader(endpointTemplate(endpoint))?.name ?? null,
    auth_header_prefix: singleHeader(endpointTemplate(endpoint))?.prefix ?? null,
    transport: endpoint.transport,
    created_at: new Date(endpoint.createdAt * 1000).toISOString(),
    tool_policy: endpoint.toolPolicy ?? null,
  };
}

// Read from here by modules not yet moved to endpoint-urls.ts.
