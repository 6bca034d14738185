import { ACTORS, recordEvent } from '../audit/trail.ts';
import { randomToken } from '../crypto.ts';
import { answers, pageError } from '../http/errors.ts';
import { rateLimit } from '../http/rate-limit.ts';
import { isCrossSiteFormPost } from '../http/request.ts';
import { redirect } from '../http/responses.ts';
import type { Platform } from '../platform.ts';
import { mayEnter } from './emails.ts';
import { finishSignIn, type SignInStart, startSignIn } from './oidc.ts';
import { endSessionCookie, readCookie, sessionCookie } from './session.ts';

/**
 * `/login` starts sign-in at the provider, `/login/callback` (the redirect URI the operator
 * registers: `{PUBLIC_URL}/login/callback`) finishes it, `/logout` ends the session. All three
 * answer 404 when sign-in is not configured, so such a deployment looks exactly as before.
 *
 * The PKCE verifier, `state` and `nonce` stay on the server: in the store for ten minutes under a
 * random id, which a short-lived HttpOnly cookie scoped to /login carries. The id is taken (read
 * and deleted) on the way back, so a sign-in response is used once.
 */

export const LOGIN_PATH = '/login';
export const CALLBACK_PATH = '/login/callback';
export const LOGOUT_PATH = '/logout';
const FLOW_COOKIE = 'k2o_signin';
const FLOW_SECONDS = 600;
const flowKey = (id: string) => `k2o:signin:${id}`;

interface Flow extends Omit<SignInStart, 'url'> {
  next: string;
}

/** Where to go after signing in: a path on this server only, never another origin (open redirects). */
export function localPath(raw: string | null | undefined): string {
  return raw && /^\/(?![/\\])[\x21-\x7e]*$/.test(raw) ? raw : '/';
}

export function signInUrl(next: string): string {
  return `${LOGIN_PATH}?next=${encodeURIComponent(localPath(next))}`;
}

export async function startLogin(platform: Platform, request: Request, clientAddress: string): Promise<Response> {
  const { signIn, publicUrl } = platform.config;
  if (!signIn) return answers.notFound();
  // Each start stores a flow for ten minutes: bounded per address like consent pages, so nobody can fill the store.
  const limited = await rateLimit(platform, 'login', platform.config.rateLimits.authorizePage, clientAddress);
  if (limited) return limited.page('sign-ins were started from your network');
  let start: SignInStart;
  try {
    start = await startSignIn(signIn, publicUrl + CALLBACK_PATH);
  } catch (error) {
    platform.log.warn('sign-in provider discovery failed', { error: error instanceof Error ? error.message : String(error) });
    return pageError(
      502,
      'Sign-in is unavailable',
      'The identity provider could not be reached.',
      'Try again in a minute; if it persists, tell the operator.',
    );
  }
  const id = randomToken();
  const flow: Flow = {
    verifier: start.verifier,
    state: start.state,
    nonce: start.nonce,
    next: localPath(new URL(request.url).searchParams.get('next')),
  };
  await platform.kv.put(flowKey(id), JSON.stringify(flow), { expirationTtl: FLOW_SECONDS });
  return redirect(start.url, new Headers({ 'set-cookie': flowCookie(platform, id, FLOW_SECONDS) }), 302);
}

export async function finishLogin(platform: Platform, request: Request): Promise<Response> {
  const { signIn, publicUrl } = platform.config;
  if (!signIn) return answers.notFound();
  const incoming = new URL(request.url);
  const id = readCookie(request.headers.get('cookie'), FLOW_COOKIE);
  const flow = id && /^[A-Za-z0-9_-]{43}$/.test(id) ? ((await platform.kv.get(flowKey(id), 'json')) as Flow | null) : null;
  const clear = new Headers({ 'set-cookie': flowCookie(platform, '', 0) });
  if (!flow)
    return pageError(
      400,
      'Sign-in expired',
      'This sign-in was started more than ten minutes ago, or in another browser.',
      'Start again from the start page, and sign in.',
      clear,
    );
  await platform.kv.delete(flowKey(id!));
  let result: Awaited<ReturnType<typeof finishSignIn>>;
  try {
    result = await finishSignIn(signIn, new URL(incoming.pathname + incoming.search, publicUrl), flow);
  } catch (error) {
    // The library's message names the failed check (state, nonce, signature…); no token is in it.
    platform.log.warn('sign-in failed', { error: error instanceof Error ? error.message : String(error) });
    return pageError(
      400,
      'Sign-in did not complete',
      'The identity provider did not confirm who you are.',
      'Go back to the start page and sign in again.',
      clear,
    );
  }
  const { email, emailVerified } = result;
  if (!email || !emailVerified || !mayEnter(signIn, email)) {
    const why = !email ? 'the provider gave no email' : !emailVerified ? 'the email is not verified' : 'the email is not allowed';
    await recordEvent(platform, { actor: email ?? ACTORS.anyone, action: 'sign-in.refused', detail: why });
    platform.log.info('sign-in refused', { reason: why });
    const sentence =
      !email || !emailVerified
        ? 'Your identity provider did not vouch for an email address (it is missing or not verified).'
        : 'Your account is not one of those allowed on this deployment.';
    return pageError(
      403,
      'Sign-in refused',
      sentence,
      'Ask the operator of this deployment to add you, or sign in with another account.',
      clear,
    );
  }
  await recordEvent(platform, { actor: email, action: 'sign-in' });
  clear.append('set-cookie', await sessionCookie(platform, email));
  return redirect(flow.next, clear, 303);
}

/** POST from the "Sign out" button (a same-site form); GET too, as a plain link, since it only ends a session. */
export function logout(platform: Platform, request: Request): Response {
  if (!platform.config.signIn) return answers.notFound();
  if (request.method === 'POST' && isCrossSiteFormPost(request, platform.config.publicUrl)) return redirect('/', new Headers(), 303);
  return redirect('/', new Headers({ 'set-cookie': endSessionCookie(platform) }), 303);
}

function flowCookie(platform: Platform, id: string, maxAge: number): string {
  const secure = platform.config.publicUrl.startsWith('https:') ? '; Secure' : '';
  return `${FLOW_COOKIE}=${id}; Path=${LOGIN_PATH}; Max-Age=${maxAge}; HttpOnly; SameSite=Lax${secure}`;
}
