import { approve, authorizationUrl, exchangeCode, pkce, revokeToken, type TokenAnswer } from '../oauth-client.ts';
import { firstRequest } from './challenge.ts';
import type { Target } from './endpoint.ts';
import type { Findings, Get } from './findings.ts';
import { listTools } from './mcp-tools.ts';
import { networkProblem } from './network.ts';
import { pageText } from './page-text.ts';
import type { Registered, RegisteredClient } from './registrations.ts';
import type { ServerEndpoints } from './server-metadata.ts';

/**
 * With a key: the whole authorization, as a user in a browser does it, then the upstream's tools,
 * then the authorization removed again, whether the steps between passed or not. Every request
 * goes to endpoints the metadata step found on the endpoint's own origin, and the consent form is
 * posted only there (oauth-client.ts `submitConsent`).
 */
export async function signInWithKey(
  get: Get,
  findings: Findings,
  target: Target,
  server: ServerEndpoints,
  registered: Registered,
  values: string[],
): Promise<void> {
  const client = registered.signIn;
  if (!client) {
    findings.fail('sign in with the key', 'no client could be registered to sign in with', 'See the registration steps above.');
    return;
  }
  const tokens = await signIn(get, findings, target, server, client, values);
  if (!tokens?.access_token) return;
  try {
    await checkTools(get, findings, target, tokens.access_token);
  } finally {
    await cleanUp(get, findings, target, server, client, tokens, registered.count);
  }
}

async function signIn(
  get: Get,
  findings: Findings,
  target: Target,
  server: ServerEndpoints,
  client: RegisteredClient,
  values: string[],
): Promise<TokenAnswer['body'] | undefined> {
  const name = 'sign in with the key';
  const { verifier, challenge } = pkce();
  const url = authorizationUrl(server.authorization, {
    clientId: client.clientId,
    redirectUri: client.redirectUri,
    challenge,
    resource: target.url,
    scope: 'mcp offline_access',
  });
  try {
    // The consent form's names: `api_key` for one value, `credential_0`, `credential_1`, … for a template of several.
    const fields =
      values.length === 1 ? { api_key: values[0]! } : Object.fromEntries(values.map((value, index) => [`credential_${index}`, value]));
    const approval = await approve(get, url, { ...fields, action: 'approve' });
    if (!approval.ok) {
      findings.fail(
        name,
        approval.html ? `the consent page answered HTTP ${approval.status}: ${pageText(approval.html).slice(0, 300)}` : approval.problem,
        'Check the key with the upstream server; the page above says what it answered.',
      );
      return undefined;
    }
    const answer = await exchangeCode(get, server.token, {
      code: approval.code,
      verifier,
      clientId: client.clientId,
      redirectUri: client.redirectUri,
      resource: target.url,
    });
    if (!answer.body.access_token) {
      findings.fail(
        name,
        `the token exchange answered HTTP ${answer.status}: ${answer.body.error_description ?? answer.body.error ?? ''}`,
        'See the server log. The authorization the key approved may remain: revoke it on the endpoint’s manage page.',
      );
      return undefined;
    }
    findings.pass(name, 'the key was accepted and tokens were issued');
    return answer.body;
  } catch (error) {
    const problem = networkProblem(error);
    findings.fail(name, problem.detail, problem.fix ?? 'See the server log.');
    return undefined;
  }
}

async function checkTools(get: Get, findings: Findings, target: Target, accessToken: string): Promise<void> {
  if (target.kind !== 'mcp') {
    findings.pass('tools', 'listing tools is done on the /mcp URL; run doctor on it');
    return;
  }
  try {
    findings.pass('tools', (await listTools(get, target.url, accessToken)).join(', ') || '(the server offers no tools)');
  } catch (error) {
    findings.fail('tools', networkProblem(error).detail, 'The upstream answered the key check but not tools/list; see the server log.');
  }
}

/**
 * RFC 7009 at the advertised revocation_endpoint (RFC 8414 §2). The refresh token stands for the
 * whole grant (RFC 7009 §2.1), so revoking it ends the authorization doctor made. The answer is
 * 200 whether or not anything was revoked (§2.2), so the access token is tried again: refused is
 * the proof. Client registrations cannot be removed: the server offers no RFC 7592 management.
 */
async function cleanUp(
  get: Get,
  findings: Findings,
  target: Target,
  server: ServerEndpoints,
  client: RegisteredClient,
  tokens: TokenAnswer['body'],
  clients: number,
): Promise<void> {
  const name = 'clean up';
  const manage = 'Revoke it on the endpoint’s manage page (the app is called “Cursor (key2oauth doctor)”), or ask its creator to.';
  const stays = `the ${clients} client registration${clients === 1 ? '' : 's'} doctor made stay${clients === 1 ? 's' : ''}: the server offers no way for a client to delete one`;
  if (!server.revocation) {
    findings.fail(name, `the server advertises no revocation_endpoint, so the authorization doctor made stays; ${stays}`, manage);
    return;
  }
  const refresh = tokens.refresh_token;
  try {
    await revokeToken(get, server.revocation, {
      token: refresh ?? tokens.access_token!,
      hint: refresh ? 'refresh_token' : 'access_token',
      clientId: client.clientId,
    });
    const check = await get(target.url, firstRequest(target, { authorization: `Bearer ${tokens.access_token}` }));
    await check.body?.cancel();
    if (check.status !== 401)
      findings.fail(name, `after revocation at ${server.revocation} the access token still answers HTTP ${check.status}`, manage);
    else if (!refresh)
      findings.fail(name, `revoked the access token, but no refresh token came with it, so the authorization may remain; ${stays}`, manage);
    else findings.pass(name, `revoked the grant doctor made (RFC 7009 at ${server.revocation}); ${stays}`);
  } catch (error) {
    findings.fail(name, `revocation at ${server.revocation}: ${networkProblem(error).detail}`, manage);
  }
}
