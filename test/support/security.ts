import { request as httpRequest } from 'node:http';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { OAuthClientMetadata } from '@modelcontextprotocol/sdk/shared/auth.js';
import { parse } from 'node-html-parser';
import { exchangeCode } from '../../src/cli/oauth-client.ts';
import { Browser } from './browser.ts';
import { approveInBrowser, TestOAuthProvider } from './oauth-client.ts';
import type { Running } from './targets.ts';

/** Helpers shared by the security suites. */

export { createEndpoint } from './api.ts';

/** A client app whose self-chosen registration name is `name`. */
export class NamedClient extends TestOAuthProvider {
  name: string;
  constructor(name: string, authMethod: 'none' | 'client_secret_post' = 'none') {
    super(authMethod);
    this.name = name;
  }
  override get clientMetadata(): OAuthClientMetadata {
    return { ...super.clientMetadata, client_name: this.name };
  }
}

/** Lets the SDK discover, register and build the authorization URL, as a client app does; returns it. */
export async function startAuthorization(endpoint: string, provider = new TestOAuthProvider()): Promise<URL> {
  const transport = new StreamableHTTPClientTransport(new URL(endpoint), { authProvider: provider });
  await new Client({ name: 't', version: '1' }).connect(transport).catch(() => {});
  if (!provider.authorizationUrl) throw new Error('the client did not get an authorization URL');
  return provider.authorizationUrl;
}

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/**
 * A request exactly as written: any method, any path bytes (invalid percent-encoding included),
 * any body and headers. fetch() would normalise or refuse some of these.
 */
export function rawRequest(
  base: string,
  method: string,
  path: string,
  options: { headers?: Record<string, string>; body?: string | Buffer } = {},
): Promise<RawResponse> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: url.hostname, port: url.port, method, path, headers: { connection: 'close', ...options.headers } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (options.body !== undefined) req.end(options.body);
    else req.end();
  });
}

/** Things no answer may ever contain: stack frames, source paths, runtime error names. */
export const LEAK_PATTERNS = [
  /\n\s+at\s/,
  /node_modules/,
  /\/src\//,
  /\.ts:\d+/,
  /file:\/\//,
  /\b(TypeError|SyntaxError|RangeError|ReferenceError|URIError)\b/,
];

/** Posts a page's form with the given fields and request headers, the way a (possibly hostile) page would. */
export async function postForm(
  page: { url: string; body: string },
  fields: Record<string, string>,
  headers: Record<string, string>,
): Promise<Response> {
  const form = parse(page.body).querySelector('form[method="post"]');
  if (!form) throw new Error(`no form on the page:\n${page.body}`);
  const body = new URLSearchParams();
  for (const input of form.querySelectorAll('input[type="hidden"]'))
    body.set(input.getAttribute('name')!, input.getAttribute('value') ?? '');
  for (const [name, value] of Object.entries(fields)) body.set(name, value);
  return fetch(page.url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body,
    redirect: 'manual',
  });
}

export function cookieHeader(browser: Browser): string {
  return [...browser.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
}

export interface Authorized {
  provider: TestOAuthProvider;
  clientId: string;
  code: string;
  accessToken: string;
  refreshToken: string;
}

/** The whole authorization by hand: SDK discovery and registration, the browser approves, the code is exchanged. */
export async function authorize(server: Running, endpoint: string, key: string, provider = new TestOAuthProvider()): Promise<Authorized> {
  const code = await approveInBrowser(new Browser(), await startAuthorization(endpoint, provider), key);
  const clientId = provider.information!.client_id;
  const secret = (provider.information as { client_secret?: string }).client_secret;
  const answer = await exchangeCode(fetch, `${server.url}/oauth/token`, {
    code,
    verifier: provider.verifier,
    clientId,
    redirectUri: provider.redirectUrl,
    resource: endpoint,
    ...(secret ? { clientSecret: secret } : {}),
  });
  if (answer.status !== 200) throw new Error(`token exchange answered ${answer.status}: ${JSON.stringify(answer.body)}`);
  const tokens = answer.body as { access_token: string; refresh_token: string };
  return { provider, clientId, code, accessToken: tokens.access_token, refreshToken: tokens.refresh_token };
}

/** One MCP request with a bearer token, as a client sends it. */
export function mcpPost(endpoint: string, token: string, body: BodyInit, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(endpoint, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${token}`,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      ...headers,
    },
    body,
    duplex: 'half',
  } as RequestInit);
}
