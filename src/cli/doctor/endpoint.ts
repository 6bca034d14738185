import { type EndpointKind, endpointOfPathname } from '../../endpoint-urls.ts';
import type { Findings } from './findings.ts';

/** The endpoint as doctor reads it from the URL the operator gave. */
export interface Target {
  /** The endpoint URL in its canonical shape (no trailing slash). */
  url: string;
  origin: string;
  /** A path before the slug: a deployment mounted under a path, which Key2OAuth does not support. */
  prefix: string;
  slug: string;
  kind: EndpointKind;
}

const LOOPBACK = /^(localhost|127(?:\.\d{1,3}){3}|\[::1\])$/;

/** The URL's shape: an endpoint URL ends in /{slug}/mcp or /{slug}/sse. */
export function readTarget(findings: Findings, given: string): Target | undefined {
  let endpoint: URL;
  try {
    endpoint = new URL(given);
  } catch {
    findings.fail(
      'endpoint URL',
      `${JSON.stringify(given)} is not a URL`,
      'Pass the endpoint URL exactly as you gave it to your client, e.g. https://bridge.example.com/AbCdEfGh1234/mcp.',
    );
    return undefined;
  }
  const shape = endpointOfPathname(endpoint.pathname);
  if (!shape?.kind) {
    findings.fail(
      'endpoint URL',
      `${endpoint.pathname} does not end in /{slug}/mcp or /{slug}/sse`,
      'Use the mcp_endpoint URL Key2OAuth gave you when the endpoint was created.',
    );
    return undefined;
  }
  const { prefix, slug, kind } = shape;
  return { url: `${endpoint.origin}${prefix}/${slug}/${kind}`, origin: endpoint.origin, prefix, slug, kind };
}

/** Plain http is fine on this computer only: elsewhere tokens and keys would cross the network in clear. */
export function checkHttps(findings: Findings, target: Target): void {
  const { protocol, hostname } = new URL(target.origin);
  if (protocol === 'http:' && !LOOPBACK.test(hostname))
    findings.fail(
      'https',
      `${target.origin} is plain http on a host that is not this computer: tokens and your users' API keys would cross the network unencrypted, and clients refuse it`,
      'Put TLS in front (a reverse proxy such as Caddy or nginx with a certificate, or Cloudflare) and set PUBLIC_URL to the https URL.',
    );
  else findings.pass('https', protocol === 'https:' ? 'https' : 'plain http on loopback (fine for local testing only)');
}
