import { ACTORS, recordEvent } from '../audit/trail.ts';
import { hmacHex, timingSafeEqual } from '../crypto.ts';
import { countGrantsRevoked } from '../metrics.ts';
import type { Platform } from '../platform.ts';
import { engine } from './engine.ts';
import { forgetGrantUse, grantLastUsed } from './grant-usage.ts';

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
}

export function keyHash(platform: Platform, slug: string, apiKey: string): Promise<string> {
  return hmacHex(platform.secret, `grant-key\u0000${slug}\u0000${apiKey}`);
}

export async function grantMetadata(
  platform: Platform,
  slug: string,
  apiKey: string,
  redirectUri: string,
  authorizedBy?: string,
): Promise<GrantMetadata> {
  return {
    createdAt: Math.floor(Date.now() / 1000),
    redirectHost: redirectHost(redirectUri),
    keyHash: await keyHash(platform, slug, apiKey),
    ...(authorizedBy ? { authorizedBy } : {}),
  };
}

/** Every grant on the endpoint, newest first, with its client's name. */
export async function listGrants(platform: Platform, slug: string): Promise<GrantView[]> {
  const oauth = engine(platform, slug).helpers();
  const summaries = [];
  let cursor: string | undefined;
  do {
    const page = await oauth.listUserGrants(slug, { limit: 1000, ...(cursor ? { cursor } : {}) });
    summaries.push(...page.items);
    cursor = page.cursor;
  } while (cursor);
  const names = new Map<string, string>();
  const views = await Promise.all(
    summaries.map(async (grant): Promise<GrantView> => {
      if (!names.has(grant.clientId)) {
        const client = await oauth.lookupClient(grant.clientId).catch(() => null);
        names.set(grant.clientId, client?.clientName || 'Unnamed app');
      }
      const metadata = (grant.metadata ?? {}) as GrantMetadata;
      const used = await grantLastUsed(platform.kv, slug, grant.id);
      return {
        id: grant.id,
        client_id: grant.clientId,
        client_name: names.get(grant.clientId)!,
        redirect_host: metadata.redirectHost ?? (grant.redirectUri ? redirectHost(grant.redirectUri) : null),
        created_at: new Date((metadata.createdAt ?? grant.createdAt) * 1000).toISOString(),
        last_used_at: used ? new Date(used * 1000).toISOString() : null,
        ...(metadata.authorizedBy ? { authorized_by: metadata.authorizedBy } : {}),
      };
    }),
  );
  return views.sort((a, b) => b.created_at.localeCompare(a.created_at));
}

/** Revokes one grant of the endpoint; false when it is not one of them. */
export async function revokeGrant(platform: Platform, slug: string, grantId: string, actor: string = ACTORS.operator): Promise<boolean> {
  if (!/^[A-Za-z0-9_-]{1,128}$/.test(grantId)) return false;
  const oauth = engine(platform, slug).helpers();
  const grants = await listGrants(platform, slug);
  if (!grants.some((grant) => grant.id === grantId)) return false;
  await oauth.revokeGrant(grantId, slug);
  await forgetGrantUse(platform.kv, slug, grantId);
  countGrantsRevoked(1);
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

/** Revokes the grants of the endpoint that were made with this key; returns how many. */
export async function revokeGrantsOfKey(platform: Platform, slug: string, apiKey: string): Promise<number> {
  const hash = await keyHash(platform, slug, apiKey);
  const oauth = engine(platform, slug).helpers();
  let revoked = 0;
  let cursor: string | undefined;
  const matching: string[] = [];
  do {
    const page = await oauth.listUserGrants(slug, { limit: 1000, ...(cursor ? { cursor } : {}) });
    for (const grant of page.items) {
      const stored = (grant.metadata as GrantMetadata | undefined)?.keyHash;
      if (stored && timingSafeEqual(stored, hash)) matching.push(grant.id);
    }
    cursor = page.cursor;
  } while (cursor);
  for (const id of matching) {
    await oauth.revokeGrant(id, slug);
    await forgetGrantUse(platform.kv, slug, id);
    revoked++;
  }
  countGrantsRevoked(revoked);
  if (revoked)
    await recordEvent(platform, { actor: ACTORS.keyHolder, action: 'access.revoked', slug, detail: `${revoked} made with their key` });
  return revoked;
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
