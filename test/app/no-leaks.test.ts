import assert from 'node:assert/strict';
import { test } from 'node:test';
import { inQuery } from '../support/expects-key.ts';
import { consentPage, INITIALIZE, KEY, REDIRECT_URI, readRpc, startApp } from '../support/in-process.ts';
import { serveMcp } from '../support/in-process-upstream.ts';

/** The logs, at debug level, after every step that handles a secret: none of them may appear. */

const ADMIN = 'admin-LEAKCHECK-0123456789abcdef';
const WRONG_KEY = 'sk-live-WRONGKEY-9876543210fedcba';

test('a whole flow logs no key, code, token, secret, handle or verifier, in-process', async () => {
  const k = await startApp({ env: { ADMIN_TOKEN: ADMIN, LOG_LEVEL: 'debug' } });
  const secrets: Record<string, string> = { 'API key': KEY, 'wrong API key': WRONG_KEY, 'admin token': ADMIN };
  try {
    const created = await k.createEndpoint({ upstream_url: 'https://echo.example.com/mcp' }, { authorization: `Bearer ${ADMIN}` });
    assert.equal(created.status, 201);
    const endpoint = created.body.mcp_endpoint!;
    secrets['manage token'] = created.body.manage_token!;

    const client = await k.register({ token_endpoint_auth_method: 'client_secret_post' });
    secrets['client secret'] = client.client_secret!;
    secrets['PKCE verifier'] = client.verifier;
    secrets['PKCE challenge'] = client.challenge;
    const page = await k.openConsent(endpoint, client);
    secrets['consent handle'] = page.hidden.handle!;

    const refused = await k.submitConsent(page, { api_key: WRONG_KEY, action: 'approve' });
    assert.equal(refused.status, 401);
    const retry = consentPage(page.url, refused, await refused.text(), page.jar);
    secrets['second consent handle'] = retry.hidden.handle!;
    const approved = await k.submitConsent(retry, { api_key: KEY, action: 'approve' });
    assert.equal(approved.status, 302);
    const code = new URL(approved.headers.get('location')!).searchParams.get('code')!;
    secrets['authorization code'] = code;

    const exchange = {
      grant_type: 'authorization_code',
      code,
      code_verifier: client.verifier,
      client_id: client.client_id,
      client_secret: client.client_secret!,
      redirect_uri: REDIRECT_URI,
    };
    const tokens = (await (await k.token(exchange)).json()) as { access_token: string; refresh_token: string };
    secrets['access token'] = tokens.access_token;
    secrets['refresh token'] = tokens.refresh_token;
    assert.ok((await readRpc(await k.mcp(endpoint, tokens.access_token, INITIALIZE))).result);

    const refreshed = await k.token({
      grant_type: 'refresh_token',
      refresh_token: tokens.refresh_token,
      client_id: client.client_id,
      client_secret: client.client_secret!,
    });
    const rotated = (await refreshed.json()) as { access_token: string; refresh_token: string };
    secrets['refreshed access token'] = rotated.access_token;
    secrets['refreshed refresh token'] = rotated.refresh_token;
    assert.equal(
      (await k.fetch(`/api/slugs/${created.body.slug}`, { headers: { authorization: `Bearer ${secrets['manage token']}` } })).status,
      200,
    );

    // The upstream starts refusing the key; then a revocation; then the code replayed (the engine logs that).
    k.upstream.acceptedKey = 'rotated-upstream-key';
    assert.equal((await k.mcp(endpoint, rotated.access_token, INITIALIZE)).status, 401);
    assert.equal(
      (await k.token({ token: rotated.refresh_token, client_id: client.client_id, client_secret: client.client_secret! })).status,
      200,
    );
    assert.equal((await k.token(exchange)).status, 400);
    await k.settle();
  } finally {
    await k.close();
  }

  const output = k.logs.join('\n');
  for (const [name, secret] of Object.entries(secrets)) {
    assert.ok(secret && secret.length >= 8, `${name} was captured`);
    assert.ok(!output.includes(secret), `the ${name} appears in the logs`);
  }
  for (const name of ['authorization code', 'access token', 'refresh token', 'refreshed access token', 'refreshed refresh token']) {
    assert.ok(!output.includes(secrets[name]!.split(':')[2]!), `the secret part of the ${name} appears in the logs`);
  }
  assert.ok(!output.includes('state-'), 'no query string is logged');
  assert.ok(k.logs.length > 10, 'the harness logs at debug level, so every line the app writes is checked');
  assert.match(output, /upstream rejected the key/);
  assert.match(output, /authorization key refused/);
  assert.match(
    output,
    /"method":"POST","route":"\/:slug\/mcp","path":"\/[A-Za-z0-9]{12}\/mcp","status":200,"ms":\d+/,
    'MCP requests are logged with status and duration',
  );
});

test('a query-string key is in no log line, metric, page, API answer, header or Location, in-process', async () => {
  const QUERY_KEY = 'qk-LEAKCHECK-in-process-0123456789';
  const METRICS = 'metrics-LEAKCHECK-0123456789abcdef';
  const k = await startApp({ env: { LOG_LEVEL: 'debug', METRICS_TOKEN: METRICS } });
  /** Everything the app answered: status lines, headers and bodies. */
  const seen: string[] = [];
  const keep = async (response: Response) => {
    response.headers.forEach((value, name) => {
      seen.push(`${name}: ${value}`);
    });
    seen.push(await response.clone().text());
    return response;
  };
  try {
    serveMcp(k.upstreams, { url: 'https://query.example.com/mcp', key: QUERY_KEY, expects: inQuery('api_key', QUERY_KEY) });
    const created = await k.createEndpoint({
      upstream_url: 'https://query.example.com/mcp',
      credentials: [{ in: 'query', name: 'api_key' }],
    });
    assert.equal(created.status, 201);
    const endpoint = created.body.mcp_endpoint!;
    const manage = { authorization: `Bearer ${created.body.manage_token}` };

    const client = await k.register();
    const page = await k.openConsent(endpoint, client);
    seen.push(page.html);
    // A wrong key that shares the real one's first characters: the refusal page masks what it shows.
    const refused = await keep(await k.submitConsent(page, { api_key: `${QUERY_KEY.slice(0, 6)}-wrong-0000`, action: 'approve' }));
    assert.equal(refused.status, 401);
    const retry = consentPage(page.url, refused, await refused.text(), page.jar);
    const approved = await keep(await k.submitConsent(retry, { api_key: QUERY_KEY, action: 'approve' }));
    assert.equal(approved.status, 302);
    const code = new URL(approved.headers.get('location')!).searchParams.get('code')!;
    const tokens = (await (
      await keep(
        await k.token({
          grant_type: 'authorization_code',
          code,
          code_verifier: client.verifier,
          client_id: client.client_id,
          ...(client.client_secret ? { client_secret: client.client_secret } : {}),
          redirect_uri: REDIRECT_URI,
        }),
      )
    ).json()) as { access_token: string };
    const init = await keep(await k.mcp(`${endpoint}?api_key=guess`, tokens.access_token, INITIALIZE));
    assert.ok((await readRpc(init)).result);
    // The upstream goes away: the failure is answered and logged, without the URL that held the key.
    k.upstreams.stop('https://query.example.com');
    assert.equal((await keep(await k.mcp(endpoint, tokens.access_token, INITIALIZE))).status, 502);
    await keep(await k.fetch(`/api/slugs/${created.body.slug}`, { headers: manage }));
    await keep(await k.fetch(`/api/slugs/${created.body.slug}/grants`, { headers: manage }));
    await keep(await k.fetch('/metrics', { headers: { authorization: `Bearer ${METRICS}` } }));
    await k.settle();
  } finally {
    await k.close();
  }
  assert.ok(
    k.upstreams.requests.some((request) => request.url.includes(QUERY_KEY)),
    'the key did travel upstream, in the query',
  );
  assert.match(k.logs.join('\n'), /upstream unreachable/);
  for (const [name, text] of [
    ['logs', k.logs.join('\n')],
    ['answers', seen.join('\n')],
  ] as const) {
    assert.ok(!text.includes(QUERY_KEY), `the query key appears in the ${name}`);
  }
});
