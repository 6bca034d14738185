import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type InProcess, PUBLIC_URL, REDIRECT_URI, startApp } from '../support/in-process.ts';

/** What an MCP client finds before it has a token: the challenge, both metadata documents, registration. */

const resourceMetadataOf = (response: Response) => /resource_metadata="([^"]+)"/.exec(response.headers.get('www-authenticate') ?? '')?.[1];

describe('discovery, in-process', () => {
  let k: InProcess;
  let endpoint: string;
  let slug: string;
  before(async () => {
    k = await startApp();
    const created = await k.mustCreateEndpoint();
    endpoint = created.mcp_endpoint!;
    slug = created.slug!;
  });
  after(() => k.close());

  test('an MCP request without a token gets 401 with an absolute resource_metadata URL and a JSON body', async () => {
    const challenge = await k.mcp(endpoint, undefined, { jsonrpc: '2.0', id: 1, method: 'tools/list' });
    assert.equal(challenge.status, 401);
    assert.match(challenge.headers.get('www-authenticate') ?? '', /^Bearer /);
    assert.equal(resourceMetadataOf(challenge), `${PUBLIC_URL}/.well-known/oauth-protected-resource/${slug}/mcp`);
    assert.match(challenge.headers.get('www-authenticate') ?? '', /scope="mcp"/);
    assert.match(challenge.headers.get('content-type') ?? '', /^application\/json/);
    const body = (await challenge.json()) as Record<string, string>;
    assert.equal(body.error, 'unauthorized');
    assert.match(body.message!, /OAuth access token/);
    assert.equal(
      k.upstreams.requests.filter((request) => request.headers.authorization).length,
      0,
      'nothing reached the upstream with a key',
    );
  });

  test('the protected resource metadata names the endpoint URL itself and our authorization server', async () => {
    const response = await k.fetch(`/.well-known/oauth-protected-resource/${slug}/mcp`);
    assert.equal(response.status, 200);
    const prm = (await response.json()) as {
      resource: string;
      authorization_servers: string[];
      bearer_methods_supported: string[];
      scopes_supported: string[];
    };
    assert.equal(prm.resource, endpoint);
    assert.equal(prm.resource, `${PUBLIC_URL}/${slug}/mcp`);
    assert.deepEqual(prm.authorization_servers, [PUBLIC_URL]);
    assert.deepEqual(prm.bearer_methods_supported, ['header']);
    assert.deepEqual(prm.scopes_supported, ['mcp']);
  });

  test('the authorization server metadata lists our endpoints, S256 only, and no stand-in resource', async () => {
    const response = await k.fetch('/.well-known/oauth-authorization-server');
    assert.equal(response.status, 200);
    const as = (await response.json()) as Record<string, unknown>;
    assert.equal(as.issuer, PUBLIC_URL);
    assert.equal(as.authorization_endpoint, `${PUBLIC_URL}/authorize`);
    assert.equal(as.token_endpoint, `${PUBLIC_URL}/oauth/token`);
    assert.equal(as.registration_endpoint, `${PUBLIC_URL}/oauth/register`);
    assert.equal(as.revocation_endpoint, `${PUBLIC_URL}/oauth/token`);
    assert.deepEqual(as.code_challenge_methods_supported, ['S256']);
    assert.deepEqual(as.scopes_supported, ['mcp', 'offline_access']);
    assert.deepEqual((as.token_endpoint_auth_methods_supported as string[]).sort(), ['client_secret_basic', 'client_secret_post', 'none']);
    assert.equal(as.authorization_response_iss_parameter_supported, true);
    assert.ok(!('protected_resources' in as), 'the per-request stand-in resource is not advertised');
  });

  test('browser clients get CORS on the metadata', async () => {
    const preflight = await k.fetch('/.well-known/oauth-authorization-server', {
      method: 'OPTIONS',
      headers: { origin: 'https://inspector.example.com', 'access-control-request-method': 'GET' },
    });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers.get('access-control-allow-origin'), 'https://inspector.example.com');
  });

  test('unknown and malformed slugs are 404 everywhere, not an OAuth challenge', async () => {
    for (const [method, path] of [
      ['GET', '/.well-known/oauth-protected-resource/AAAAAAAAAAAA/mcp'],
      ['GET', '/.well-known/oauth-protected-resource/short/mcp'],
      ['POST', '/AAAAAAAAAAAA/mcp'],
      ['POST', '/not-a-slug/mcp'],
      ['GET', '/AAAAAAAAAAAA/sse'],
      ['POST', '/AAAAAAAAAAAA/messages'],
    ] as const) {
      const response = await k.fetch(path, {
        method,
        ...(method === 'POST' ? { body: '{}', headers: { 'content-type': 'application/json' } } : {}),
      });
      assert.equal(response.status, 404, `${method} ${path}`);
      assert.equal(response.headers.get('www-authenticate'), null, `${method} ${path}`);
      const body = (await response.json()) as Record<string, string>;
      assert.equal(body.error, 'not_found', `${method} ${path}`);
      assert.ok(body.message, `${method} ${path}`);
    }
  });

  test('reached by another host name, the server still speaks as PUBLIC_URL', async () => {
    const challenge = await k.fetch(`http://127.0.0.1:8787/${slug}/mcp`, {
      method: 'POST',
      body: '{}',
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(challenge.status, 401);
    assert.equal(resourceMetadataOf(challenge), `${PUBLIC_URL}/.well-known/oauth-protected-resource/${slug}/mcp`);
    const prm = (await (await k.fetch(`http://127.0.0.1:8787/.well-known/oauth-protected-resource/${slug}/mcp`)).json()) as {
      resource: string;
    };
    assert.equal(prm.resource, endpoint);
    const as = (await (await k.fetch('http://127.0.0.1:8787/.well-known/oauth-authorization-server')).json()) as { issuer: string };
    assert.equal(as.issuer, PUBLIC_URL);
  });
});

describe('dynamic client registration, in-process', () => {
  let k: InProcess;
  before(async () => {
    k = await startApp({ env: { RATE_LIMIT_REGISTER: '3/3600' } });
  });
  after(() => k.close());

  const register = (body: unknown, clientAddress?: string) =>
    k.fetch('/oauth/register', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      ...(clientAddress ? { clientAddress } : {}),
    });

  test('a public client gets a client_id and no secret; a confidential one gets a secret', async () => {
    const pub = await register({ client_name: 'Public', redirect_uris: [REDIRECT_URI], token_endpoint_auth_method: 'none' });
    assert.equal(pub.status, 201);
    const publicClient = (await pub.json()) as Record<string, unknown>;
    assert.ok(typeof publicClient.client_id === 'string' && publicClient.client_id.length > 0);
    assert.deepEqual(publicClient.redirect_uris, [REDIRECT_URI]);
    assert.equal(publicClient.client_secret, undefined);

    const confidential = await register({ redirect_uris: [REDIRECT_URI], token_endpoint_auth_method: 'client_secret_post' });
    assert.equal(confidential.status, 201);
    const secretClient = (await confidential.json()) as Record<string, unknown>;
    assert.ok(typeof secretClient.client_secret === 'string' && secretClient.client_secret.length >= 32);
    assert.notEqual(secretClient.client_id, publicClient.client_id);
  });

  test('bad metadata is refused with 400 invalid_client_metadata and a description', async () => {
    const cases: [unknown, RegExp][] = [
      [{ redirect_uris: [] }, /redirect_uris/],
      [{ redirect_uris: [REDIRECT_URI], client_name: 'x'.repeat(201) }, /client_name must be at most 200 characters/],
      [{ redirect_uris: Array.from({ length: 11 }, (_, i) => `${REDIRECT_URI}${i}`) }, /at most 10 redirect_uris/],
    ];
    for (const [index, [body, description]] of cases.entries()) {
      // One address per case: refused registrations count against the limit too.
      const response = await register(body, `192.0.2.${50 + index}`);
      assert.equal(response.status, 400, JSON.stringify(body).slice(0, 80));
      const error = (await response.json()) as { error: string; error_description: string };
      assert.equal(error.error, 'invalid_client_metadata');
      assert.match(error.error_description, description);
    }
  });

  test('a javascript: redirect URI is refused as invalid_redirect_uri (RFC 7591 §3.2.2), naming the scheme', async () => {
    const response = await register({ redirect_uris: ['javascript:alert(1)'] }, '192.0.2.60');
    assert.equal(response.status, 400);
    const error = (await response.json()) as { error: string; error_description: string };
    assert.equal(error.error, 'invalid_redirect_uri');
    assert.match(error.error_description, /javascript: scheme/);
  });

  test('the registration response returns the metadata the client sent (RFC 7591 §3.2.1)', async () => {
    const sent = {
      client_name: 'Echo Client',
      redirect_uris: [REDIRECT_URI],
      token_endpoint_auth_method: 'none',
      scope: 'mcp offline_access',
      software_id: 'com.example.echo',
      software_version: '2.4.1',
      client_uri: 'https://client.example.net/',
      contacts: ['ops@example.net'],
    };
    const response = await register(sent, '192.0.2.61');
    assert.equal(response.status, 201);
    const body = (await response.json()) as Record<string, unknown>;
    for (const [field, value] of Object.entries(sent)) assert.deepEqual(body[field], value, field);
  });

  test('registrations beyond the limit from one address get 429 with Retry-After; another address still registers', async () => {
    const body = { redirect_uris: [REDIRECT_URI], token_endpoint_auth_method: 'none' };
    for (let i = 0; i < 3; i++) assert.equal((await register(body, '203.0.113.9')).status, 201);
    const refused = await register(body, '203.0.113.9');
    assert.equal(refused.status, 429);
    const retryAfter = Number(refused.headers.get('retry-after'));
    assert.ok(retryAfter >= 1 && retryAfter <= 3600, `Retry-After ${retryAfter}`);
    assert.equal(((await refused.json()) as { error: string }).error, 'rate_limited');
    assert.equal((await register(body, '203.0.113.10')).status, 201);
  });
});
