import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Provider from 'oidc-provider';
import { CookieJar } from '../../src/cli/oauth-client.ts';

/**
 * A real OpenID provider on loopback: panva's `oidc-provider` (OpenID Certified), in this process,
 * with its development login and consent screens. Accounts are named by their login; each has an
 * email, verified or not. The relying party registered is Key2OAuth at `{publicUrl}/login/callback`.
 */

export interface TestAccount {
  email: string;
  verified: boolean;
}

export interface TestProvider {
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** The OIDC_* settings for a deployment that signs in here. */
  env: Record<string, string>;
  close(): Promise<void>;
}

export async function startProvider(publicUrl: string, accounts: Record<string, TestAccount>): Promise<TestProvider> {
  const provider = await listenProvider();
  provider.serve(publicUrl, accounts);
  return provider;
}

export interface ListeningProvider extends TestProvider {
  /** Starts answering, for a deployment at `publicUrl` (known only once it runs: its port). */
  serve(publicUrl: string, accounts: Record<string, TestAccount>): void;
}

/** The provider's port first, so a spawned deployment can be given OIDC_ISSUER before the provider knows the deployment's URL. */
export async function listenProvider(): Promise<ListeningProvider> {
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const clientId = 'key2oauth';
  const clientSecret = 'idp-client-secret-0123456789abcdefghij';
  return {
    issuer,
    clientId,
    clientSecret,
    env: { OIDC_ISSUER: issuer, OIDC_CLIENT_ID: clientId, OIDC_CLIENT_SECRET: clientSecret },
    serve(publicUrl, accounts) {
      const provider = new Provider(issuer, {
        clients: [
          {
            client_id: clientId,
            client_secret: clientSecret,
            redirect_uris: [`${publicUrl}/login/callback`],
            grant_types: ['authorization_code'],
            response_types: ['code'],
            token_endpoint_auth_method: 'client_secret_post',
          },
        ],
        claims: { openid: ['sub'], email: ['email', 'email_verified'] },
        pkce: { required: () => true },
        cookies: { keys: ['test-cookie-key-0123456789abcdef'] },
        async findAccount(_ctx: unknown, id: string) {
          const account = accounts[id];
          if (!account) return undefined;
          return { accountId: id, claims: async () => ({ sub: id, email: account.email, email_verified: account.verified }) };
        },
      });
      provider.on('server_error', (_ctx: unknown, error: unknown) => console.error('oidc-provider:', error));
      server.on('request', provider.callback());
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

type Fetch = (url: string, init?: RequestInit) => Promise<Response>;

/**
 * Signs in headlessly, as a browser would: our `/login` → the provider's login form (filled with
 * `login`) → its consent form → back to our `/login/callback`. `app` reaches the deployment
 * (in-process or over HTTP), the provider is reached over loopback. Returns the callback's answer;
 * `jar` then holds the session cookie.
 */
export async function signInHeadless(app: Fetch, appUrl: string, login: string, jar: CookieJar, next = '/'): Promise<Response> {
  const idp = new CookieJar();
  let response = await app(`${appUrl}/login?next=${encodeURIComponent(next)}`, { headers: jar.header(), redirect: 'manual' });
  jar.keep(response);
  let location = response.headers.get('location');
  if (response.status !== 302 || !location) throw new Error(`/login answered ${response.status}: ${await response.text()}`);
  for (let step = 0; step < 20; step++) {
    const url = new URL(location, response.url || appUrl);
    if (url.href.startsWith(`${appUrl}/`)) {
      response = await app(url.href, { headers: jar.header(), redirect: 'manual' });
      jar.keep(response);
      return response;
    }
    response = await fetch(url, { headers: idp.header(), redirect: 'manual' });
    idp.keep(response);
    if (response.status === 200) {
      const html = await response.text();
      const action = /<form[^>]*action="([^"]+)"/.exec(html)?.[1];
      const prompt = /name="prompt" value="(\w+)"/.exec(html)?.[1];
      if (!action || !prompt) throw new Error(`provider page without a form: ${html.slice(0, 500)}`);
      const fields: Record<string, string> = prompt === 'login' ? { prompt, login, password: 'any' } : { prompt };
      response = await fetch(new URL(action, url), {
        method: 'POST',
        headers: { ...idp.header(), 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams(fields),
        redirect: 'manual',
      });
      idp.keep(response);
    }
    location = response.headers.get('location');
    if (!location) throw new Error(`provider answered ${response.status} without a redirect: ${await response.text()}`);
    location = new URL(location, url).href;
  }
  throw new Error('sign-in did not come back');
}
