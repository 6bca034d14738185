import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { mustCreateEndpoint } from '../support/api.ts';
import { Browser } from '../support/browser.ts';
import {
  authorizationUrl,
  exchangeCode,
  NO_RATE_LIMITS,
  obtainCode,
  pkce,
  refresh,
  registerClient,
  type TokenAnswer,
} from '../support/oauth-raw.ts';
import { type Running, targets } from '../support/targets.ts';
import { startUpstream, type Upstream } from '../support/upstream.ts';

const KEY = 'sk-attacks-0123456789abcdef';
const CALLBACK = 'https://client.example/callback';
const OTHER_CALLBACK = 'https://client.example/other-callback';

/** An OAuth error the way RFC 6749 §5.2 says: 400, the code, and no token of any kind. */
function assertRefused(answer: TokenAnswer, error: string, what: string) {
  assert.equal(answer.status, 400, `${what}: ${JSON.stringify(answer.body)}`);
  assert.equal(answer.body.error, error, what);
  assert.equal(answer.body.access_token, undefined, `${what}: no access token`);
  assert.equal(answer.body.refresh_token, undefined, `${what}: no refresh token`);
}

function assertIssued(answer: TokenAnswer, what: string): { access_token: string; refresh_token: string } {
  assert.equal(answer.status, 200, `${what}: ${JSON.stringify(answer.body)}`);
  assert.ok(answer.body.access_token && answer.body.refresh_token, `${what}: tokens issued`);
  return answer.body as { access_token: string; refresh_token: string };
}

/** Whether the MCP endpoint takes this access token (an initialize answered by the upstream). */
async function mcpAccepts(endpoint: string, accessToken: string): Promise<number> {
  const response = await fetch(endpoint, {
    method: 'POST',
    headers: { authorization: `Bearer ${accessToken}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'attacks', version: '1' } },
    }),
  });
  await response.body?.cancel();
  return response.status;
}

for (const target of targets())
  describe(`OAuth attacks at the authorization and token endpoints are refused (${target.name})`, () => {
    let upstream: Upstream;
    let server: Running;
    let endpoint: string;

    before(async () => {
      upstream = await startUpstream({ key: KEY });
      server = await target.start(NO_RATE_LIMITS);
      endpoint = (await mustCreateEndpoint(server, { upstream_url: upstream.url, transport: 'streamable-http' })).mcp_endpoint!;
    });
    after(async () => {
      await server?.stop();
      await upstream?.close();
    });

    test('/authorize with a redirect_uri the client did not register shows an error and never redirects there', async () => {
      const client = await registerClient(server, [CALLBACK]);
      const { challenge } = pkce();
      const good = await new Browser().get(authorizationUrl(server, endpoint, client, { challenge }));
      assert.equal(good.status, 200, 'the registered redirect_uri gets the consent page');

      const foreign = [
        'https://evil.example/callback',
        'https://client.example/callback/extra',
        'https://client.example/callback?next=https://evil.example',
        'https://client.example.evil.example/callback',
        'http://client.example/callback',
        OTHER_CALLBACK,
      ];
      for (const redirectUri of foreign) {
        const page = await new Browser().get(authorizationUrl(server, endpoint, client, { challenge, redirectUri }));
        assert.equal(page.status, 400, `${redirectUri}: ${page.text()}`);
        assert.equal(page.response.headers.get('location'), null, `${redirectUri}: no redirect`);
        assert.match(page.text(), /redirect URI/i, redirectUri);
        assert.doesNotMatch(page.body, /name="api_key"/, `${redirectUri}: no key form`);
        assert.equal(page.response.headers.getSetCookie().length, 0, `${redirectUri}: no consent transaction`);
      }
    });

    test('a code is exchanged only with the redirect_uri it was issued for (invalid_grant otherwise)', async () => {
      const client = await registerClient(server, [CALLBACK, OTHER_CALLBACK]);
      const issued = await obtainCode(server, endpoint, client, KEY, CALLBACK);
      // Registered by this client, but not the one the code was issued for.
      assertRefused(
        await exchangeCode(server, endpoint, client, issued, { redirect_uri: OTHER_CALLBACK }),
        'invalid_grant',
        'the other registered redirect_uri',
      );
      assertRefused(
        await exchangeCode(server, endpoint, client, issued, { redirect_uri: 'https://evil.example/callback' }),
        'invalid_grant',
        'an unregistered redirect_uri',
      );

      const fresh = await obtainCode(server, endpoint, client, KEY, OTHER_CALLBACK);
      assertRefused(
        await exchangeCode(server, endpoint, client, fresh, { redirect_uri: CALLBACK }),
        'invalid_grant',
        'swapped the other way round',
      );
      const tokens = assertIssued(
        await exchangeCode(server, endpoint, client, await obtainCode(server, endpoint, client, KEY, OTHER_CALLBACK)),
        'the matching redirect_uri',
      );
      assert.equal(await mcpAccepts(endpoint, tokens.access_token), 200);
    });

    test('a wrong or missing PKCE code_verifier gets no token', async () => {
      const client = await registerClient(server, [CALLBACK]);
      const issued = await obtainCode(server, endpoint, client, KEY);
      const attempts: [string, Record<string, string | undefined>, string][] = [
        ['another well-formed verifier', { code_verifier: pkce().verifier }, 'invalid_grant'],
        ['the challenge sent as the verifier', { code_verifier: pkce().challenge }, 'invalid_grant'],
        [
          'the verifier with one character changed',
          { code_verifier: `${issued.verifier.slice(0, -1)}${issued.verifier.endsWith('A') ? 'B' : 'A'}` },
          'invalid_grant',
        ],
        ['no verifier', { code_verifier: undefined }, 'invalid_request'],
      ];
      for (const [what, overrides, error] of attempts)
        assertRefused(await exchangeCode(server, endpoint, client, issued, overrides), error, what);

      // The right verifier, on a code of its own, is what works.
      const tokens = assertIssued(
        await exchangeCode(server, endpoint, client, await obtainCode(server, endpoint, client, KEY)),
        'the right verifier',
      );
      assert.equal(await mcpAccepts(endpoint, tokens.access_token), 200);
    });

    test('refresh tokens rotate: after A → B and B → C, refresh token A is refused', async () => {
      const client = await registerClient(server, [CALLBACK]);
      const first = assertIssued(
        await exchangeCode(server, endpoint, client, await obtainCode(server, endpoint, client, KEY)),
        'code exchange',
      );
      const a = first.refresh_token;
      const b = assertIssued(await refresh(server, client.clientId, a), 'A → B').refresh_token;
      assert.notEqual(b, a);
      const c = assertIssued(await refresh(server, client.clientId, b), 'B → C');
      assert.notEqual(c.refresh_token, b);

      assertRefused(await refresh(server, client.clientId, a), 'invalid_grant', 'A after two rotations');
      assert.equal(await mcpAccepts(endpoint, c.access_token), 200, 'the newest access token still works');
    });

    test("a client cannot use another client's refresh token or code", async () => {
      const victim = await registerClient(server, [CALLBACK], 'Victim');
      const attacker = await registerClient(server, [CALLBACK], 'Attacker');

      // The attacker presents the victim's code, with the victim's own verifier and redirect_uri.
      const code = await obtainCode(server, endpoint, victim, KEY);
      assertRefused(await exchangeCode(server, endpoint, attacker, code), 'invalid_grant', "the victim's code");
      const tokens = assertIssued(await exchangeCode(server, endpoint, victim, code), 'the victim exchanging its own code afterwards');

      assertRefused(await refresh(server, attacker.clientId, tokens.refresh_token), 'invalid_grant', "the victim's refresh token");
      const rotated = assertIssued(await refresh(server, victim.clientId, tokens.refresh_token), 'the victim refreshing afterwards');
      assertRefused(await refresh(server, attacker.clientId, rotated.refresh_token), 'invalid_grant', "the victim's rotated refresh token");
      assert.equal(await mcpAccepts(endpoint, rotated.access_token), 200);
    });
  });
