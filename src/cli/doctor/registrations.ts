import { authorizationUrl, openConsent, pkce, register } from '../oauth-client.ts';
import type { Target } from './endpoint.ts';
import type { Findings, Get } from './findings.ts';
import { networkProblem } from './network.ts';
import { pageText } from './page-text.ts';
import type { ServerEndpoints } from './server-metadata.ts';

/** Where real clients send their users back (docs/architecture.md, "Redirect URIs"). */
const CLIENTS = [
  { name: 'Claude', redirect_uris: ['https://claude.ai/api/mcp/auth_callback', 'https://claude.com/api/mcp/auth_callback'] },
  { name: 'ChatGPT', redirect_uris: ['https://chatgpt.com/connector_platform_oauth_redirect'] },
  {
    name: 'Cursor',
    redirect_uris: ['cursor://anysphere.cursor-mcp/oauth/callback', 'http://127.0.0.1:44321/oauth/callback'],
  },
] as const;

export interface RegisteredClient {
  clientId: string;
  /** A loopback redirect URI: doctor reads the code from the redirect without anything listening there. */
  redirectUri: string;
}

/** What registration left: the client sign-in can use, and how many clients now exist because of doctor. */
export interface Registered {
  signIn?: RegisteredClient;
  count: number;
}

/**
 * Registration (RFC 7591) as Claude, ChatGPT and Cursor register, then the authorization page
 * for the Claude-style client. The Cursor-style registration has a loopback redirect URI, so the
 * sign-in with the key uses it rather than registering a client of its own: the server offers no
 * way to delete a registration, and every one doctor makes stays.
 */
export async function checkRegistrations(get: Get, findings: Findings, target: Target, server: ServerEndpoints): Promise<Registered> {
  const ids: Record<string, string> = {};
  for (const client of CLIENTS) {
    const name = `registration as ${client.name}`;
    try {
      const registered = await register(get, server.registration, {
        client_name: `${client.name} (key2oauth doctor)`,
        redirect_uris: [...client.redirect_uris],
      });
      if (registered.clientId) {
        ids[client.name] = registered.clientId;
        findings.pass(name, `client ${registered.clientId.slice(0, 8)}…`);
      } else
        findings.fail(
          name,
          `HTTP ${registered.status}: ${String(registered.body.error_description ?? registered.body.error ?? '')}`,
          'See the server log for this registration.',
        );
    } catch (error) {
      findings.fail(name, networkProblem(error).detail, 'See the server log for this registration.');
    }
  }
  if (ids.Claude) await checkAuthorizationPage(get, findings, target, server, ids.Claude);
  return {
    count: Object.keys(ids).length,
    ...(ids.Cursor ? { signIn: { clientId: ids.Cursor, redirectUri: CLIENTS[2].redirect_uris[1] } } : {}),
  };
}

async function checkAuthorizationPage(get: Get, findings: Findings, target: Target, server: ServerEndpoints, clientId: string) {
  const name = 'authorization page';
  const url = authorizationUrl(server.authorization, {
    clientId,
    redirectUri: CLIENTS[0].redirect_uris[0],
    challenge: pkce().challenge,
    resource: target.url,
    scope: 'mcp offline_access',
  });
  try {
    const page = await openConsent(get, url);
    if (page.status === 200 && page.form) findings.pass(name, 'the consent page opens for a Claude-style request');
    else
      findings.fail(
        name,
        `HTTP ${page.status}: ${pageText(page.html).slice(0, 200)}`,
        `Open ${server.authorization} yourself and read what it says; check PUBLIC_URL=${target.origin}.`,
      );
  } catch (error) {
    findings.fail(name, networkProblem(error).detail, `Open ${server.authorization} yourself and read what it says.`);
  }
}
