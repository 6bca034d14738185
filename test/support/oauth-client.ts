import type { OAuthClientProvider } from '@modelcontextprotocol/sdk/client/auth.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { OAuthClientInformationMixed, OAuthClientMetadata, OAuthTokens } from '@modelcontextprotocol/sdk/shared/auth.js';
import { authorizationUrl, register } from '../../src/cli/oauth-client.ts';
import { Browser } from './browser.ts';

/**
 * The SDK's OAuth client provider, as an MCP client app implements it: it keeps the registration
 * and tokens, and "opens" the authorization URL by handing it to a test browser.
 */
export class TestOAuthProvider implements OAuthClientProvider {
  redirectUrl = 'http://127.0.0.1:9/callback';
  authorizationUrl: URL | undefined;
  information: OAuthClientInformationMixed | undefined;
  savedTokens: OAuthTokens | undefined;
  verifier = '';
  authMethod: string;

  constructor(authMethod: 'none' | 'client_secret_post' | 'client_secret_basic' = 'none') {
    this.authMethod = authMethod;
  }

  get clientMetadata(): OAuthClientMetadata {
    return {
      client_name: 'Test MCP Client',
      redirect_uris: [this.redirectUrl],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: this.authMethod,
    };
  }
  state() {
    return 'state-ünicode-✓';
  }
  clientInformation() {
    return this.information;
  }
  saveClientInformation(information: OAuthClientInformationMixed) {
    this.information = information;
  }
  tokens() {
    return this.savedTokens;
  }
  saveTokens(tokens: OAuthTokens) {
    this.savedTokens = tokens;
  }
  redirectToAuthorization(url: URL) {
    this.authorizationUrl = url;
  }
  saveCodeVerifier(verifier: string) {
    this.verifier = verifier;
  }
  codeVerifier() {
    return this.verifier;
  }
}

/**
 * The whole first connection: the SDK client meets the 401, discovers, registers and asks for
 * authorization; the browser approves with `key`; the SDK exchanges the code; a connected client
 * comes back.
 */
export async function connectWithOAuth(endpoint: string, key: string, provider = new TestOAuthProvider(), browser = new Browser()) {
  const first = new StreamableHTTPClientTransport(new URL(endpoint), { authProvider: provider });
  const firstClient = new Client({ name: 'test-client', version: '1.0.0' });
  await firstClient.connect(first).then(
    () => {
      throw new Error('connected without authorization');
    },
    (error) => {
      if (!(error instanceof UnauthorizedError)) throw error;
    },
  );
  const code = await approveInBrowser(browser, provider.authorizationUrl!, key);
  await first.finishAuth(code);
  const client = new Client({ name: 'test-client', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(endpoint), { authProvider: provider }));
  return { client, provider, browser };
}

/** Opens the authorization page, pastes the key (or the fields of a template of several), fills in `fields`, approves; returns the code from the redirect. */
export async function approveInBrowser(
  browser: Browser,
  authorizationUrl: URL,
  key: string | Record<string, string>,
  fields: Record<string, string | string[]> = {},
): Promise<string> {
  const page = await browser.get(authorizationUrl);
  if (page.status !== 200) throw new Error(`authorization page answered ${page.status}: ${page.text()}`);
  // A key, or the consent form's fields for a template of several (`credential_0`, `credential_1`, …).
  const response = await browser.submit(
    page,
    { ...(typeof key === 'string' ? { api_key: key } : key), ...fields },
    { name: 'action', value: 'approve' },
  );
  if (response.status !== 302) throw new Error(`approval answered ${response.status}: ${await response.text()}`);
  const location = new URL(response.headers.get('location')!);
  const code = location.searchParams.get('code');
  if (!code) throw new Error(`no code in redirect ${location}`);
  return code;
}

/**
 * The consent page's URL for a freshly registered public client named `clientName` (RFC 7591, then
 * the authorization request of RFC 6749 §4.1.1 with PKCE), for tests that open the page in a browser
 * and never exchange the code: the PKCE challenge is a fixed one, the state the test's own name.
 */
export async function consentPageUrl(
  origin: string,
  request: { clientName: string; redirectUri: string; state: string; resource?: string },
): Promise<string> {
  const client = await register(fetch, `${origin}/oauth/register`, {
    client_name: request.clientName,
    redirect_uris: [request.redirectUri],
  });
  if (!client.clientId) throw new Error(`registration answered ${client.status}: ${JSON.stringify(client.body)}`);
  return authorizationUrl(`${origin}/authorize`, {
    clientId: client.clientId,
    redirectUri: request.redirectUri,
    challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
    state: request.state,
    scope: 'mcp offline_access',
    ...(request.resource ? { resource: request.resource } : {}),
  }).href;
}
