import * as oauth from '../../src/cli/oauth-client.ts';
import { Browser } from './browser.ts';
import { approveInBrowser } from './oauth-client.ts';
import type { Running } from './targets.ts';

/**
 * The OAuth flow by hand, one request at a time, for tests that must send what no well-behaved
 * client would: another redirect_uri, a wrong code_verifier, someone else's refresh token. Built
 * on the raw client doctor and the bench use (src/cli/oauth-client.ts), against a running server.
 */

export const pkce = oauth.pkce;

export interface RawClient {
  clientId: string;
  redirectUris: string[];
}

/** Dynamic client registration (RFC 7591) of a public client with these redirect URIs. */
export async function registerClient(server: Running, redirectUris: string[], name = 'Raw test client'): Promise<RawClient> {
  const registered = await oauth.register(fetch, `${server.url}/oauth/register`, { client_name: name, redirect_uris: redirectUris });
  if (!registered.clientId) throw new Error(`registration answered ${registered.status}: ${JSON.stringify(registered.body)}`);
  return { clientId: registered.clientId, redirectUris };
}

/** The authorization request URL a client would open in the browser. */
export function authorizationUrl(
  server: Running,
  endpoint: string,
  client: RawClient,
  options: { redirectUri?: string; challenge: string; state?: string },
): URL {
  return oauth.authorizationUrl(`${server.url}/authorize`, {
    clientId: client.clientId,
    redirectUri: options.redirectUri ?? client.redirectUris[0]!,
    challenge: options.challenge,
    state: options.state ?? 'raw-state',
    resource: endpoint,
  });
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

export type TokenAnswer = oauth.TokenAnswer;

/** POST /oauth/token with exactly these form fields. */
export function tokenRequest(server: Running, fields: Record<string, string>): Promise<TokenAnswer> {
  return oauth.tokenRequest(fetch, `${server.url}/oauth/token`, fields);
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
    ...oauth.codeExchangeFields({
      code: issued.code,
      verifier: issued.verifier,
      clientId: client.clientId,
      redirectUri: issued.redirectUri,
      resource: endpoint,
    }),
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
