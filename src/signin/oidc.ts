import * as client from 'openid-client';
import type { SignInConfig } from '../config.ts';

/**
 * The relying party, on panva's `openid-client` (OpenID Certified; WebCrypto and fetch only, so it
 * runs the same on Node and Workers). Every check of the OpenID Connect flow is the library's:
 * - discovery (OpenID Connect Discovery 1.0 §4.3: the issuer in the document equals OIDC_ISSUER);
 * - authorization code with PKCE S256 (RFC 7636), `state` (RFC 6749 §10.12) and `nonce`
 *   (Core §3.1.2.1), each checked on the way back; `iss` in the response (RFC 9207) when offered;
 * - the ID token (Core §3.1.3.7): signature against the provider's JWKS, `iss`, `aud`, `exp`,
 *   `iat`, `nonce`; the UserInfo `sub` equals the ID token's (Core §5.3.4).
 * The provider is reached with the runtime's own fetch: it is the operator's choice, not a
 * stranger's URL, so the upstream address policy does not apply to it. Plain http is allowed only
 * for a loopback issuer (config.ts refuses it elsewhere), for a provider run beside the server.
 */

export interface SignInStart {
  url: string;
  verifier: string;
  state: string;
  nonce: string;
}

/** One discovery per issuer and process (isolate), kept; a failed one is tried again next time. */
const discovered = new Map<string, Promise<client.Configuration>>();

function configuration(signIn: SignInConfig): Promise<client.Configuration> {
  const key = `${signIn.issuer}\u0000${signIn.clientId}`;
  let found = discovered.get(key);
  if (!found) {
    const loopbackHttp = new URL(signIn.issuer).protocol === 'http:';
    found = client.discovery(
      new URL(signIn.issuer),
      signIn.clientId,
      undefined,
      client.ClientSecretPost(signIn.clientSecret),
      loopbackHttp ? { execute: [client.allowInsecureRequests] } : undefined,
    );
    found.catch(() => discovered.delete(key));
    discovered.set(key, found);
  }
  return found;
}

export async function startSignIn(signIn: SignInConfig, redirectUri: string): Promise<SignInStart> {
  const config = await configuration(signIn);
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri,
    scope: 'openid email',
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
  });
  return { url: url.href, verifier, state, nonce };
}

export interface SignedIn {
  email: string | undefined;
  emailVerified: boolean;
}

/**
 * Finishes the flow at the redirect URI (`callbackUrl` is the request's URL on PUBLIC_URL) and
 * returns the email and whether the provider verified it: from the ID token, or from UserInfo
 * when the provider keeps claims there (many do for `scope=email`).
 */
export async function finishSignIn(signIn: SignInConfig, callbackUrl: URL, start: Omit<SignInStart, 'url'>): Promise<SignedIn> {
  const config = await configuration(signIn);
  const tokens = await client.authorizationCodeGrant(config, callbackUrl, {
    pkceCodeVerifier: start.verifier,
    expectedState: start.state,
    expectedNonce: start.nonce,
    idTokenExpected: true,
  });
  const claims = tokens.claims()!;
  let email = typeof claims.email === 'string' ? claims.email : undefined;
  let verified = claims.email_verified === true;
  if (!email) {
    const info = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
    email = typeof info.email === 'string' ? info.email : undefined;
    verified = info.email_verified === true;
  }
  return { email, emailVerified: verified };
}
