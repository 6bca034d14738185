import { createHash, randomBytes } from 'node:crypto';
import { Browser } from './browser.ts';
import { approveInBrowser } from './oauth-client.ts';
import type { Running } from './targets.ts';

/**
 * The OAuth flow by hand, one request at a time, for tests that must send what no well-behaved
 * client would: another redirect_uri, a wrong code_verifier, someone else's refresh token.
 */

export interface RawClient {
  clientId: string;
  redirectUris: string[];
}

/** Dynamic client registration (RFC 7591) of a public client with these redirect URIs. */
export async function registerClient(server: Running, redirectUris: string[], name = 'Raw test client'): Promise<RawClient> {
  const response = await fetch(`${server.url}/oauth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      client_name: name,
      redirect_uris: redirectUris,
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    }),
  });
  const body = (await response.json()) as { client_id?: string };
  if (response.status !== 201 || !body.client_id) throw new Error(`registration answered ${response.status}: ${JSON.stringify(body)}`);
  return { clientId: body.client_id, redirectUris };
}

/** A PKCE pair (RFC 7636, S256). */
export function pkce(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

/** The authorization request URL a client would open in the browser. */
export function authorizationUrl(
  server: Running,
  endpoint: string,
  client: RawClient,
  options: { redirectUri?: string; challenge: string; state?: string },
): URL {
  const url = new URL(`${server.url}/authorize`);
  url.search = new URLSearchParams({
    response_type: 'code',
    client_id: client.clientId,
    redirect_uri: options.redirectUri ?? client.redirectUris[0]!,
    code_challenge: options.challenge,
    code_challenge_method: 'S256',
    state: options.state ?? 'raw-state',
    resource: endpoint,
  }).toString();
  return url;
}

export interface IssuedCode {
  code: string;
  verifier: string;
  redirectUri: string;
}

/** Authorization up to the code: the user approves with `key` in a fresh browser. */
export async function obtainCode(
  server: Running,
  endpoint: string,
  client: RawClient,
  key: string,
  redirectUri = client.redirectUris[0]!,
): Promise<IssuedCode> {
  const { verifier, challenge } = pkce();
  const code = await approveInBrowser(new Browser(), authorizationUrl(server, endpoint, client, { redirectUri, challenge }), key);
  return { code, verifier, redirectUri };
}

export interface TokenAnswer {
  status: number;
  body: { access_token?: string; refresh_token?: string; error?: string; error_description?: string };
}

/** POST /oauth/token with exactly these form fields. */
export async function tokenRequest(server: Running, fields: Record<string, string>): Promise<TokenAnswer> {
  const response = await fetch(`${server.url}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(fields),
  });
  return { status: response.status, body: (await response.json()) as TokenAnswer['body'] };
}

/** The code exchange; `overrides` replace (or, set to undefined, drop) any field a correct client sends. */
export function exchangeCode(
  server: Running,
  endpoint: string,
  client: RawClient,
  issued: IssuedCode,
  overrides: Record<string, string | undefined> = {},
): Promise<TokenAnswer> {
  const fields: Record<string, string | undefined> = {
    grant_type: 'authorization_code',
    code: issued.code,
    code_verifier: issued.verifier,
    client_id: client.clientId,
    redirect_uri: issued.redirectUri,
    resource: endpoint,
    ...overrides,
  };
  return tokenRequest(
    server,
    Object.fromEntries(Object.entries(fields).filter((entry): entry is [string, string] => entry[1] !== undefined)),
  );
}

export function refresh(server: Running, clientId: string, refreshToken: string): Promise<TokenAnswer> {
  return tokenRequest(server, { grant_type: 'refresh_token', refresh_token: refreshToken, client_id: clientId });
}

/** Settings that keep a suite which approves many times from meeting the rate limits it does not test. */
export const NO_RATE_LIMITS = {
  RATE_LIMIT_REGISTER: '0',
  RATE_LIMIT_AUTHORIZE: '0',
  RATE_LIMIT_AUTHORIZE_ENDPOINT: '0',
  RATE_LIMIT_AUTHORIZE_PAGE: '0',
  RATE_LIMIT_CREATE: '0',
};
