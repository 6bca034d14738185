import { base64url, hmacHex, timingSafeEqual } from '../crypto.ts';
import type { Platform } from '../platform.ts';
import { isAdminEmail, mayEnter } from './emails.ts';

/**
 * The sign-in session: a cookie holding only the verified email and an expiry, with an HMAC under
 * the deployment secret, so it is stateless (the same on Node, replicas and the Worker) and worth
 * nothing on another deployment or after the secret changes. Nothing else of the ID token is kept.
 *
 * HttpOnly (no script reads it), SameSite=Lax (sent on top-level navigations, which sign-in
 * redirects are, and not on cross-site posts), Secure whenever PUBLIC_URL is https (plain http is
 * only allowed on loopback), and expiring on both sides: Max-Age for the browser, `exp` for us.
 * Whether the email may still enter is decided on every request, so removing someone from
 * ALLOWED_EMAILS takes effect at once.
 */

export const SESSION_COOKIE = 'k2o_session';
export const SESSION_SECONDS = 12 * 3600;

export interface Person {
  email: string;
  admin: boolean;
}

export async function sessionCookie(platform: Platform, email: string): Promise<string> {
  const payload = base64url(new TextEncoder().encode(JSON.stringify({ email, exp: Math.floor(Date.now() / 1000) + SESSION_SECONDS })));
  const mac = await hmacHex(platform.secret, `session\u0000${payload}`);
  return cookieLine(platform, `${payload}.${mac}`, SESSION_SECONDS);
}

export function endSessionCookie(platform: Platform): string {
  return cookieLine(platform, '', 0);
}

function cookieLine(platform: Platform, value: string, maxAge: number): string {
  const secure = platform.config.publicUrl.startsWith('https:') ? '; Secure' : '';
  return `${SESSION_COOKIE}=${value}; Path=/; Max-Age=${maxAge}; HttpOnly; SameSite=Lax${secure}`;
}

/** The signed-in person behind a request, when sign-in is configured, the cookie is ours and fresh, and the email may still enter. */
export async function signedInPerson(platform: Platform, request: Request): Promise<Person | undefined> {
  const { signIn } = platform.config;
  if (!signIn) return undefined;
  const value = readCookie(request.headers.get('cookie'), SESSION_COOKIE);
  if (!value || value.length > 2048) return undefined;
  const [payload = '', mac = ''] = value.split('.');
  if (!timingSafeEqual(await hmacHex(platform.secret, `session\u0000${payload}`), mac)) return undefined;
  let claims: { email?: unknown; exp?: unknown };
  try {
    claims = JSON.parse(
      new TextDecoder().decode(Uint8Array.from(atob(payload.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0))),
    );
  } catch {
    return undefined;
  }
  if (typeof claims.email !== 'string' || typeof claims.exp !== 'number' || claims.exp <= Date.now() / 1000) return undefined;
  if (!mayEnter(signIn, claims.email)) return undefined;
  return { email: claims.email, admin: isAdminEmail(signIn, claims.email) };
}

export function readCookie(header: string | null, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}
