import type { Context } from 'hono';
import { slugOfEndpointUrl } from '../endpoint-urls.ts';
import { endpointTemplate } from '../endpoints/endpoint.ts';
import { createEndpointStore } from '../endpoints/store.ts';
import { sentences } from '../http/errors.ts';
import { rateLimit } from '../http/rate-limit.ts';
import { readFormPost } from '../http/request.ts';
import { htmlResponse, redirect } from '../http/responses.ts';
import { readCredentialForm } from '../oauth/credential-form.ts';
import { revokeGrantsOfKey } from '../oauth/grants.ts';
import { revokePage } from '../pages/revoke.ts';
import type { Platform } from '../platform.ts';

/**
 * `/revoke`: the person who authorized an app takes the access back without the manage token. The
 * proof is the key they pasted: each grant's metadata holds an HMAC of its key under the deployment
 * secret (oauth/grants.ts), so the grants made with this key are found by listing the endpoint's
 * grants, without decrypting any. Whoever holds the key could use it anyway, so the key is the
 * right proof; the attempts count against the same limits as key submissions on the consent
 * page, per address and per endpoint.
 */

export function showRevoke(c: Context): Promise<Response> {
  const endpoint = c.req.query('endpoint')?.slice(0, 2048);
  const done = c.req.query('revoked');
  const revoked = done !== undefined && /^\d{1,6}$/.test(done) ? Number(done) : undefined;
  return htmlResponse(revokePage({ ...(endpoint ? { endpoint } : {}), ...(revoked !== undefined ? { revoked } : {}) }));
}

export async function submitRevoke(platform: Platform, c: Context, clientAddress: string): Promise<Response> {
  const { config } = platform;
  const read = await readFormPost(c.req.raw, config.publicUrl);
  if (!read.ok) return read.answer;
  const form = read.value;
  const endpointUrl = (form.get('endpoint') ?? '').slice(0, 2048);
  const again = (error: string, status: number, headers?: Headers) =>
    htmlResponse(revokePage({ endpoint: endpointUrl, error }), { status, ...(headers ? { headers } : {}) });

  const limited = await rateLimit(platform, 'authorize', config.rateLimits.authorizeSubmit, clientAddress);
  if (limited) return again(limited.sentence('keys were tried from your network'), 429, limited.headers());
  const slug = slugOfEndpointUrl(config.publicUrl, endpointUrl);
  const endpoint = slug ? await createEndpointStore(platform.kv).get(slug) : null;
  if (!slug || !endpoint) return again(sentences.notAnEndpointUrl, 400);
  const pasted = readCredentialForm(form, endpointTemplate(endpoint), endpoint.upstreamUrl);
  if (!pasted.ok) return again(pasted.log === 'empty' ? 'Paste the key you used.' : pasted.message, 400);
  // Each attempt tests a key against the endpoint's grants (an oracle, like the consent page), so
  // it spends the same per-endpoint budget: guessing from many addresses is bounded here too.
  const endpointLimited = await rateLimit(platform, 'authorize-endpoint', config.rateLimits.authorizeSubmitPerEndpoint, slug);
  if (endpointLimited) return again(endpointLimited.sentence('keys were tried on this endpoint'), 429, endpointLimited.headers());
  const revoked = await revokeGrantsOfKey(platform, slug, pasted.values);
  platform.log.info('grants revoked by their key holder', { slug, revoked_grants: revoked });
  const query = new URLSearchParams({ endpoint: endpointUrl, revoked: String(revoked) });
  return redirect(`/revoke?${query}`, new Headers(), 303);
}
