import { ACTORS, recordEvent } from '../audit/trail.ts';
import { hmacHex, timingSafeEqual } from '../crypto.ts';
import { countGrantsRevoked } from '../metrics.ts';
import type { Platform } from '../platform.ts';
import { ALL_TOOLS } from '../upstream/tool-policy.ts';
import { awaitsCodeExchange, engine, markGrantTokens, updateGrantMetadata } from './engine.ts';
import { forgetGrantUse, grantLastUsed } from './grant-usage.ts';
import { addReplacement, forgetReplacements } from './key-replacement.ts';

/**
 * The grants of one endpoint, as the creator and the person who authorized see them. Each grant's
 * metadata (stored beside it, not encrypted, so it can be listed without the token) carries when it
 * was made, where its tokens went, and a keyed hash of the API key: the key itself is only in the
 * encrypted props, and the hash, under the deployment secret, lets "revoke my access" find the
 * grants made with a key without decrypting anything, and tells nobody without the secret anything.
 */

export interface GrantMetadata {
  createdAt: number;
  redirectHost?: string;
  keyHash?: string;
  /** With SIGN_IN_TO_AUTHORIZE: the signed-in person who approved (docs/teams.md). */
  authorizedBy?: string;
  /** The key holder's tool choice in words (upstream/tool-policy.ts `describeChoice`); absent: all tools. */
  tools?: string;
}

export interface GrantView {
  id: string;
  client_id: string;
  client_name: string;
  redirect_host: string | null;
  created_at: string;
  last_used_at: string | null;
  /** Only on grants approved by a signed-in person (SIGN_IN_TO_AUTHORIZE). */
  authorized_by?: string;
  /** Which tools the key holder allowed: `all tools`, `read-only tools`, `only a, b`. */
  tools: string;
}

/**
 * The keyed hash of a grant's credential: every value, in template order, NUL-separated (values
 * are printable ASCII, so no two lists join to the same text). A one-value credential hashes as
 * the single key always did, so grants made before templates are still found.
 */
export function credentialsHash(secret: string, slug: string, values: readonly string[]): Promise<string> {
  return hmacHex(secret, `grant-key\u0000${slug}\u0000${values.join('\u0000')}`);
}

export function keyHash(platform: Platform, slug: string, values: readonly string[]): Promise<string> {
  return credentialsHash(platform.secret, slug, values);
}

export async function grantMetadata(
  platform: Platform,
  slug: string,
  values: readonly string[],
  redirectUri: string,
  authorizedBy?: string,
): Promise<GrantMetadata> {
  return {
    createdAt: Math.floor(Date.now() / 1000),
    redirectHost: redirectHost(redirectUri),
    keyHash: await keyHash(platform, slug, values),
    ...(authorizedBy ? { authorizedBy } : {}),
  };
}

interface ListedGrant {
  view: GrantView;
  keyHash?: string;
  /** Approved, but its code never exchanged (engine.ts `awaitsCodeExchange`): no app has access yet. */
  pending: boolean;
}

async function listGrantRecords(platform: Platform, slug: string): Promise<ListedGrant[]> {
  const oauth = engine(platform, slug).helpers();
  const summaries = [];
  let cursor: string | undefined;
  do {
    const page = await oauth.listUserGrants(slug, { limit: 1000, ...(cursor ? { cursor } : {}) });
    summaries.push(...page.items);
    cursor = page.cursor;
  } while (cursor);
  const names = new Map<string, string>();
  const listed = await Promise.all(
    summaries.map(async (grant): Promise<ListedGrant> => {
      if (!names.has(grant.clientId)) {
        const client = await oauth.lookupClient(grant.clientId).catch(() => null);
        names.set(grant.clientId, client?.clientName || 'Unnamed app');
      }
      const metadata = (grant.metadata ?? {}) as GrantMetadata;
      const used = await grantLastUsed(platform.kv, slug, grant.id);
      return {
        view: {
          id: grant.id,
          client_id: grant.clientId,
          client_name: names.get(grant.clientId)!,
          redirect_host: metadata.redirectHost ?? (grant.redirectUri ? redirectHost(grant.redirectUri) : null),
          created_at: new Date((metadata.createdAt ?? grant.createdAt) * 1000).toISOString(),
          last_used_at: used ? new Date(used * 1000).toISOString() : null,
          ...(metadata.authorizedBy ? { authorized_by: metadata.authorizedBy } : {}),
          tools: metadata.tools ?? ALL_TOOLS,
        },
        ...(metadata.keyHash ? { keyHash: metadata.keyHash } : {}),
        pending: awaitsCodeExchange(grant),
      };
    }),
  );
  return listed.sort((a, b) => b.view.created_at.localeCompare(a.view.created_at));
}

/**
 * Every access on the endpoint, newest first, with its client's name: the grants whose code was
 * exchanged. An approval the app never came back for gave no app anything; it is not listed, and
 * the store drops it when its code expires (ten minutes).
 */
export async function listGrants(platform: Platform, slug: string): Promise<GrantView[]> {
  return (await listGrantRecords(platform, slug)).filter((grant) => !grant.pending).map((grant) => grant.view);
}

/**
 * The accesses of the endpoint made with these credential values (or given them by a
 * replacement; with `pending`, the approvals still waiting for their app too), found by their keyed hash, without decrypting anything. A hash the previous deployment secret
 * made (KEY2OAUTH_SECRET_PREVIOUS, during a rotation) matches too, and is rewritten under the
 * current secret, so the previous one can be dropped once every grant was looked up or replaced.
 */
export async function grantsOfCredentials(
  platform: Platform,
  slug: string,
  values: string[],
  { pending = false }: { pending?: boolean } = {},
): Promise<GrantView[]> {
  const current = await credentialsHash(platform.secret, slug, values);
  const previous = platform.previousSecret ? await credentialsHash(platform.previousSecret, slug, values) : undefined;
  const found: GrantView[] = [];
  for (const grant of await listGrantRecords(platform, slug)) {
    // Pending approvals only when asked (revoking everything a key gave), never as accesses.
    if (!grant.keyHash || (grant.pending && !pending)) continue;
    if (timingSafeEqual(grant.keyHash, current)) found.push(grant.view);
    else if (previous && timingSafeEqual(grant.keyHash, previous)) {
      found.push(grant.view);
      await updateGrantMetadata(platform, slug, grant.view.id, (metadata) => {
        metadata.keyHash = current;
      });
    }
  }
  return found;
}

/** Revokes one grant of the endpoint; false when it is not one of them. */
export async function revokeGrant(platform: Platform, slug: string, grantId: string, actor: string = ACTORS.operator): Promise<boolean> {
  if (!/^[A-Za-z0-9_-]{1,128}$/.test(grantId)) return false;
  const grants = await listGrants(platform, slug);
  if (!grants.some((grant) => grant.id === grantId)) return false;
  await revokeGrantIds(platform, slug, [grantId]);
  const grant = grants.find((one) => one.id === grantId)!;
  await recordEvent(platform, { actor, action: 'access.revoked', slug, detail: `${grant.client_name} (${grant.redirect_host ?? '?'})` });
  return true;
}

/** Revokes every grant of the endpoint (the creator's "revoke all"); returns how many. */
export async function revokeAllGrants(platform: Platform, slug: string, actor: string = ACTORS.operator): Promise<number> {
  const revoked = await engine(platform, slug).revokeAllGrants();
  await recordEvent(platform, { actor, action: 'access.revoked', slug, detail: `all: ${revoked}` });
  return revoked;
}

/** Revokes these grants of the endpoint, and forgets what was kept beside them. */
export async function revokeGrantIds(platform: Platform, slug: string, ids: string[]): Promise<number> {
  const oauth = engine(platform, slug).helpers();
  for (const id of ids) {
    await oauth.revokeGrant(id, slug);
    await platform.stdio?.stopGrant(id);
    await forgetGrantUse(platform.kv, slug, id);
    await forgetReplacements(platform.kv, slug, id);
  }
  countGrantsRevoked(ids.length);
  return ids.length;
}

/**
 * Gives these grants (found with `oldValues`) `newValues` from their next use on
 * (key-replacement.ts): one sealed step per grant, their live tokens marked, and the keyed hash
 * in their metadata moved to the new values, so the holder finds them with the new key and no
 * longer with the old one. Returns how many.
 */
export async function replaceGrantCredentials(
  platform: Platform,
  slug: string,
  ids: string[],
  oldValues: string[],
  newValues: string[],
): Promise<number> {
  const hash = await credentialsHash(platform.secret, slug, newValues);
  for (const id of ids) {
    const version = await addReplacement(platform, slug, id, oldValues, newValues);
    await markGrantTokens(platform, slug, id, version);
    await updateGrantMetadata(platform, slug, id, (metadata) => {
      metadata.keyHash = hash;
    });
    // A stdio server's process holds the old key in its environment: the next request starts one with the new.
    await platform.stdio?.stopGrant(id);
  }
  return ids.length;
}

/** The host the tokens went to: `claude.ai`, `127.0.0.1:33418`, or a private scheme such as `cursor:`. */
function redirectHost(uri: string): string {
  try {
    const url = new URL(uri);
    return url.host || url.protocol;
  } catch {
    return 'unknown';
  }
}

/**
 * People copy keys together with the scheme (`Bearer sk-…`) from their server's docs. Sent as is,
 * that would become `Bearer Bearer sk-…`; the prefix the endpoint adds is taken off instead.
 */
export function withoutPastedPrefix(apiKey: string, prefix: string): string {
  if (!prefix) return apiKey;
  const pasted = new RegExp(`^${prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s+`, 'i').exec(apiKey);
  return pasted ? apiKey.slice(pasted[0].length).trim() : apiKey;
}
