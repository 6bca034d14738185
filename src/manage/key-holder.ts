import { ACTORS, recordEvent } from '../audit/trail.ts';
import { isSlug, slugOfEndpointUrl } from '../endpoint-urls.ts';
import { type Endpoint, endpointTemplate, upstreamTarget } from '../endpoints/endpoint.ts';
import { createEndpointStore } from '../endpoints/store.ts';
import { countMistake, mistakesUsedUp, type Refusal, rateLimit } from '../http/rate-limit.ts';
import { type GrantView, grantsOfCredentials, replaceGrantCredentials, revokeGrantIds, withoutPastedPrefix } from '../oauth/grants.ts';
import { keyAttemptLimits } from '../oauth/key-attempts.ts';
import type { Platform } from '../platform.ts';
import { probeKey } from '../upstream/probe.ts';

/**
 * What a key holder may do with the credentials they gave an endpoint, for the page (access-page.ts)
 * and the JSON API (access-api.ts) alike: find the accesses made with them, revoke them, or replace
 * the credentials. The credentials are the proof: each grant's metadata holds a keyed hash of its
 * values (oauth/grants.ts), so the grants are found without decrypting any. Whoever holds the key
 * could use it anyway, so the key is the right proof.
 *
 * Every wrong attempt is a guess at a key through this server (an oracle, like the consent page),
 * so it counts against the key-guessing limits the consent page uses (oauth/key-attempts.ts): per
 * address, and per endpoint (bounding guesses from many addresses). A failed attempt has one answer, whatever failed (no
 * such endpoint, no grant, wrong key), so it tells a guesser nothing about which.
 */

/** The one sentence for credentials that open nothing, wherever they are refused. */
export const NO_ACCESS =
  'No access on that endpoint was made with these credentials. Check the endpoint URL and paste the same key you gave it.';

/** At most this many values (the credential template's fields), each at most this long. */
const MAX_VALUES = 4;
const MAX_VALUE_LENGTH = 8192;

export interface Found {
  slug: string;
  endpoint: Endpoint;
  values: string[];
  grants: GrantView[];
}

export type Lookup =
  | { ok: true; found: Found }
  | { ok: false; kind: 'limited'; refusal: Refusal; tooMany: string }
  | { ok: false; kind: 'no-access' }
  | { ok: false; kind: 'invalid'; problem: string };

/** Why these values cannot be credentials, or undefined. */
export function valuesProblem(values: unknown, what = 'credentials'): string | undefined {
  if (!Array.isArray(values) || values.length === 0 || values.length > MAX_VALUES)
    return `${what} must be a list of 1 to ${MAX_VALUES} values`;
  for (const value of values) {
    if (typeof value !== 'string' || value.trim() === '') return `every value in ${what} must be a non-empty string`;
    if (value.length > MAX_VALUE_LENGTH) return `a value in ${what} is longer than ${MAX_VALUE_LENGTH} characters`;
    // Each value becomes part of an HTTP request upstream: visible ASCII only (no line breaks).
    if (!/^[\x20-\x7e]+$/.test(value.trim())) return `a value in ${what} contains characters an HTTP request cannot carry`;
  }
  return undefined;
}

/** The values as the endpoint sends them: trimmed, and a pasted `Bearer ` taken off a lone key. */
function cleaned(values: string[], endpoint: Endpoint): string[] {
  const fields = endpointTemplate(endpoint);
  return values.map((value, i) => {
    const field = fields[i];
    return field?.in === 'header' ? withoutPastedPrefix(value.trim(), field.prefix ?? '') : value.trim();
  });
}

/** The slug named by an endpoint URL or a bare slug, else undefined. */
export function slugOfInput(publicUrl: string, input: string): string | undefined {
  const trimmed = input.trim();
  return isSlug(trimmed) ? trimmed : slugOfEndpointUrl(publicUrl, trimmed);
}

/** The accesses made on `endpointInput` with `values`, counted against both key-guessing limits. */
export async function findAccess(platform: Platform, clientAddress: string, endpointInput: string, values: unknown): Promise<Lookup> {
  const { config } = platform;
  const problem = valuesProblem(values);
  if (problem) return { ok: false, kind: 'invalid', problem };
  // Every lookup is bounded like a consent page (attempts at once); wrong keys count as guesses.
  const lookups = await rateLimit(platform, 'access-lookup', config.rateLimits.authorizePage, clientAddress);
  if (lookups) return { ok: false, kind: 'limited', refusal: lookups, tooMany: 'keys were looked up from your network' };
  const input = endpointInput.slice(0, 2048);
  const slug = slugOfInput(config.publicUrl, input);
  // An unknown endpoint spends a budget of its own name, as a known one would: the same count either way.
  const limits = keyAttemptLimits(config, { address: clientAddress, endpoint: slug ?? input });
  const usedUp = await mistakesUsedUp(platform, limits);
  if (usedUp) return { ok: false, kind: 'limited', refusal: usedUp.refusal, tooMany: usedUp.tooMany };
  const endpoint = slug ? await createEndpointStore(platform.kv).get(slug) : null;
  const clean = endpoint ? cleaned(values as string[], endpoint) : [];
  const grants = slug && endpoint ? await grantsOfCredentials(platform, slug, clean) : [];
  if (!slug || !endpoint || grants.length === 0) {
    await countMistake(platform, limits);
    return { ok: false, kind: 'no-access' };
  }
  return { ok: true, found: { slug, endpoint, values: clean, grants } };
}

/** The accesses of `found` again (after a change), without counting an attempt: the holder proved the key already. */
export async function refreshed(platform: Platform, found: Found): Promise<Found> {
  return { ...found, grants: await grantsOfCredentials(platform, found.slug, found.values) };
}

/**
 * Revokes one of the accesses found (`id`), or all of them, and names the apps that lost access.
 * "All" also takes back approvals made with the key whose app has not yet come for its code, so
 * none of them can become an access afterwards.
 */
export async function revokeAccess(platform: Platform, found: Found, id?: string): Promise<{ revoked: number; apps: string[] }> {
  const chosen = found.grants.filter((grant) => id === undefined || grant.id === id);
  const waiting =
    id === undefined
      ? (await grantsOfCredentials(platform, found.slug, found.values, { pending: true })).filter(
          (grant) => !chosen.some((one) => one.id === grant.id),
        )
      : [];
  const revoked = await revokeGrantIds(
    platform,
    found.slug,
    chosen.map((grant) => grant.id),
  );
  await revokeGrantIds(
    platform,
    found.slug,
    waiting.map((grant) => grant.id),
  );
  const apps = chosen.map((grant) => grant.client_name);
  platform.log.info('grants revoked by their key holder', { slug: found.slug, revoked_grants: revoked });
  if (revoked)
    await recordEvent(platform, {
      actor: ACTORS.keyHolder,
      action: 'access.revoked',
      slug: found.slug,
      detail: `${revoked} made with their key: ${apps.join(', ')}`,
    });
  return { revoked, apps };
}

export type Replacement = { ok: true; replaced: number; found: Found } | { ok: false; status: 400 | 422 | 502; problem: string };

/**
 * Replaces the credentials of every access found: the new values are checked against the
 * upstream first (the MCP handshake the consent page makes, upstream/probe.ts), and sent from each
 * access's next request on (oauth/key-replacement.ts).
 */
export async function replaceAccess(platform: Platform, found: Found, newValues: unknown): Promise<Replacement> {
  const problem = valuesProblem(newValues, 'new_credentials');
  if (problem) return { ok: false, status: 400, problem };
  const values = cleaned(newValues as string[], found.endpoint);
  if (values.length !== found.values.length)
    return { ok: false, status: 400, problem: `new_credentials must have as many values as credentials (${found.values.length})` };
  if (found.endpoint.transport === 'stdio') {
    // A stdio server's key check starts it with the key, as consent does (docs/stdio.md).
    const checked = platform.stdio
      ? await platform.stdio.check(found.slug, values)
      : { ok: false as const, reason: 'no processes run here' };
    if (!checked.ok) {
      platform.log.info('replacement key refused', { slug: found.slug, reason: 'stdio check failed' });
      return {
        ok: false,
        status: 422,
        problem: `${found.endpoint.displayName} did not start with the new key; nothing was changed. Check it and try again.`,
      };
    }
  } else {
    const refused = await probeRefusal(platform, found, values);
    if (refused) return refused;
  }
  const ids = found.grants.map((grant) => grant.id);
  const replaced = await replaceGrantCredentials(platform, found.slug, ids, found.values, values);
  platform.log.info('key replaced by its holder', { slug: found.slug, replaced_grants: replaced });
  await recordEvent(platform, {
    actor: ACTORS.keyHolder,
    action: 'access.replaced',
    slug: found.slug,
    detail: `key of ${replaced} access(es)`,
  });
  return { ok: true, replaced, found: { ...found, values } };
}

/** The upstream's refusal of new values (the MCP handshake consent makes, upstream/probe.ts), if it refuses them. */
async function probeRefusal(platform: Platform, found: Found, values: string[]): Promise<Replacement | undefined> {
  const host = new URL(found.endpoint.upstreamUrl).host;
  const probe = await probeKey(platform, upstreamTarget(found.endpoint), values);
  if (!probe.ok) {
    platform.log.info('replacement key refused', { slug: found.slug, reason: probe.kind });
    return probe.kind === 'rejected'
      ? {
          ok: false,
          status: 422,
          problem: `${host} rejected the new key (HTTP ${probe.status}); nothing was changed. Check the new key and try again.`,
        }
      : {
          ok: false,
          status: 502,
          problem: `The new key could not be checked: ${host} did not complete an MCP handshake. Nothing was changed; try again later.`,
        };
  }
  return undefined;
}
