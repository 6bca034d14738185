import type { HostCheck, UpstreamFetch } from '../../platform.ts';
import { rememberedUrlCheck, UpstreamBlockedError, type UpstreamPolicy } from '../../upstream/url-policy.ts';

/**
 * The Worker side of the upstream guard. A Worker cannot resolve DNS or see the address it
 * connects to, so there is no connect-time address check as on Node. What protects it instead:
 * - every URL is checked again here by the same pure policy as at creation (scheme, credentials,
 *   IP literals in every notation, private names, the allowlist): a URL that slipped past
 *   creation, or a policy tightened since, is refused before any connection;
 * - redirects are never followed (`redirect: 'manual'`), so a public upstream cannot bounce the
 *   request (and the key) to a host nobody checked;
 * - `global_fetch_strictly_public` routes every fetch as an ordinary client on the public
 *   internet would go, never straight to the zone's own origin; and Cloudflare's edge refuses to
 *   connect Workers to private, loopback and link-local addresses, whatever a name resolves to.
 */
export function createWorkerUpstreamFetch(
  policy: UpstreamPolicy,
  fetchImpl: typeof fetch = (input, init) => fetch(input, init),
): UpstreamFetch {
  const check = rememberedUrlCheck(policy);
  return async (url, init) => {
    const checked = check(url);
    if (!checked.ok) throw new UpstreamBlockedError(checked.reason);
    const { duplex: _duplex, ...rest } = init as RequestInit & { duplex?: string };
    return fetchImpl(checked.url.href, { ...rest, redirect: 'manual' });
  };
}

/**
 * Endpoint creation on Node resolves the host and checks every address. A Worker has no DNS
 * API, so this cannot be done here: the URL policy has already run, and the fetch-time
 * protections above decide at connection time.
 */
export async function checkUpstreamHostOnWorkers(): Promise<HostCheck> {
  return { ok: true };
}
