import { jsonError } from '../http/errors.ts';
import type { Platform } from '../platform.ts';
import { engine, refreshTokenState, tokenParts } from './engine.ts';

/**
 * Refresh token reuse detection (RFC 9700 §4.14.2). The engine rotates refresh tokens but keeps
 * the one it replaced valid, so a stolen token that is used after its owner refreshed still works.
 * We remember, per grant, when each refresh token was first exchanged (its hash and the time).
 * Presented again within `REFRESH_REUSE_GRACE_SECONDS`, it is a client refreshing twice in
 * parallel (Claude does) and is let through; later, two parties hold it, and the grant is
 * revoked: the attacker's tokens and the legitimate client's alike, which then re-authorizes.
 *
 * A token we have no record of (a grant from before this check, or on Workers a record not yet
 * visible in this location) is left to the engine: the check errs towards not revoking.
 */

/** Exchanged tokens remembered per grant; the engine itself accepts only the last one. */
const REMEMBERED = 8;

interface Exchanged {
  hash: string;
  /** Unix milliseconds of the first exchange. */
  at: number;
}

/** Null to go on to the engine, or the refusal after revoking the grant. */
export async function refreshReuse(platform: Platform, refreshToken: string): Promise<Response | null> {
  const parts = tokenParts(refreshToken);
  const found = parts && (await refreshTokenState(platform, refreshToken));
  if (!parts || !found || found.state === 'no-grant') return null;
  const key = `k2o:refresh-exchanged:${parts.slug}:${parts.grantId}`;
  const exchanged = ((await platform.kv.get(key, 'json')) as Exchanged[] | null) ?? [];
  const now = Date.now();

  if (found.state === 'current') {
    // Written before the engine rotates it: a crash in between leaves a record for a token that
    // is still current, which is only ever read once the token has been replaced.
    if (!exchanged.some((entry) => entry.hash === found.hash)) {
      const kept = [...exchanged, { hash: found.hash, at: now }].slice(-REMEMBERED);
      await platform.kv.put(key, JSON.stringify(kept), { expirationTtl: platform.config.refreshTokenTtl });
    }
    return null;
  }
  const earlier = exchanged.find((entry) => entry.hash === found.hash);
  if (!earlier || now - earlier.at <= platform.config.refreshReuseGraceSeconds * 1000) return null;

  platform.log.warn('refresh token reused after rotation; revoking its grant', {
    slug: parts.slug,
    age_seconds: Math.round((now - earlier.at) / 1000),
  });
  await engine(platform, parts.slug).helpers().revokeGrant(parts.grantId, parts.slug);
  return jsonError(
    400,
    'invalid_grant',
    'This refresh token was already used, so it may have been copied; the authorization was revoked for safety. Connect again.',
  );
}
