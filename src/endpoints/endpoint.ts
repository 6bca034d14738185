import { endpointUrl } from '../endpoint-urls.ts';
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
  /** Header that carries the key upstream, e.g. `Authorization` or `X-API-Key`. */
  authHeaderName: string;
  /** Text before the key, joined by one space (`Bearer` gives `Bearer <key>`); empty for the bare key. */
  authHeaderPrefix: string;
  transport: UpstreamTransport;
  createdAt: number;
  manageTokenHash?: string;
  /** The creator's ceiling on every grant's tools (`tool_policy`, docs/tools-and-activity.md). */
  toolPolicy?: ToolCeiling;
}

/** The upstream facts a grant needs to forward a request, snapshotted into its encrypted props. */
export function upstreamTarget(endpoint: Endpoint): UpstreamTarget {
  return {
    url: endpoint.upstreamUrl,
    headerName: endpoint.authHeaderName,
    headerPrefix: endpoint.authHeaderPrefix,
    transport: endpoint.transport,
  };
}

/** The public view of an endpoint, as the JSON API returns it (names from the original design). */
export function describeEndpoint(endpoint: Endpoint, publicUrl: string) {
  return {
    slug: endpoint.slug,
    mcp_endpoint: endpointUrl(publicUrl, endpoint.slug),
    sse_endpoint: endpointUrl(publicUrl, endpoint.slug, 'sse'),
    upstream_url: endpoint.upstreamUrl,
    display_name: endpoint.displayName,
    auth_header_name: endpoint.authHeaderName,
    auth_header_prefix: endpoint.authHeaderPrefix,
    transport: endpoint.transport,
    created_at: new Date(endpoint.createdAt * 1000).toISOString(),
    tool_policy: endpoint.toolPolicy ?? null,
  };
}

// Read from here by modules not yet moved to endpoint-urls.ts.
