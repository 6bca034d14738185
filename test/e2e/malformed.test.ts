import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { authorize, createEndpoint, LEAK_PATTERNS, rawRequest } from '../support/security.ts';
import { type Running, targets } from '../support/targets.ts';
import { startUpstream, type Upstream } from '../support/upstream.ts';

const KEY = 'sk-malformed-0123456789abcdef';

interface Case {
  name: string;
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** Statuses that are right here although below 400 (the input is harmless and ignored). */
  ok?: number[];
}

const JSON_TYPE = { 'content-type': 'application/json' };
const FORM_TYPE = { 'content-type': 'application/x-www-form-urlencoded' };
const BAD_UTF8 = Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0xc3, 0x28, 0x22, 0x7d]);
const long = (n: number) => 'x'.repeat(n);

/** Malformed requests for every route. `S` is a real slug, `T` its manage token, `A` an access token. */
function cases(S: string, T: string, A: string): Case[] {
  const auth = { authorization: `Bearer ${T}` };
  const bearer = { authorization: `Bearer ${A}` };
  const bodyCases = (method: string, path: string, headers: Record<string, string>): Case[] => [
    { name: 'bad JSON', method, path, headers: { ...headers, ...JSON_TYPE }, body: '{"upstream_url":' },
    { name: 'JSON array', method, path, headers: { ...headers, ...JSON_TYPE }, body: '[1,2,3]' },
    { name: 'JSON null', method, path, headers: { ...headers, ...JSON_TYPE }, body: 'null' },
    { name: 'JSON string', method, path, headers: { ...headers, ...JSON_TYPE }, body: '"https://example.com"' },
    {
      name: 'wrong types',
      method,
      path,
      headers: { ...headers, ...JSON_TYPE },
      body: JSON.stringify({ upstream_url: 5, display_name: [], auth_header_name: {}, transport: true }),
    },
    {
      name: 'huge upstream_url',
      method,
      path,
      headers: { ...headers, ...JSON_TYPE },
      body: JSON.stringify({ upstream_url: `https://example.com/${long(5000)}` }),
    },
    {
      name: 'huge display_name',
      method,
      path,
      headers: { ...headers, ...JSON_TYPE },
      body: JSON.stringify({ upstream_url: 'https://example.com/mcp', display_name: long(20000) }),
    },
    {
      name: 'huge header name',
      method,
      path,
      headers: { ...headers, ...JSON_TYPE },
      body: JSON.stringify({ upstream_url: 'https://example.com/mcp', auth_header_name: long(5000) }),
    },
    {
      name: 'control characters',
      method,
      path,
      headers: { ...headers, ...JSON_TYPE },
      body: JSON.stringify({ upstream_url: 'https://example.com/mcp\r\nX: y', display_name: 'a\u0000b\u202e' }),
    },
    {
      name: 'unknown fields',
      method,
      path,
      headers: { ...headers, ...JSON_TYPE },
      body: JSON.stringify({ upstream_url: 'https://example.com/mcp', __proto__: { admin: true }, constructor: 1 }),
    },
    { name: 'invalid UTF-8', method, path, headers: { ...headers, ...JSON_TYPE }, body: BAD_UTF8 },
    { name: 'text/plain', method, path, headers: { ...headers, 'content-type': 'text/plain' }, body: 'upstream_url=https://example.com' },
    { name: 'no content type', method, path, headers, body: '{}' },
    {
      name: 'multipart garbage',
      method,
      path,
      headers: { ...headers, 'content-type': 'multipart/form-data; boundary=xyz' },
      body: '--abc\r\ngarbage',
    },
    { name: 'deeply nested JSON', method, path, headers: { ...headers, ...JSON_TYPE }, body: '['.repeat(5000) + ']'.repeat(5000) },
  ];
  return [
    // Start page
    {
      name: 'home: multipart garbage',
      method: 'POST',
      path: '/',
      headers: { 'content-type': 'multipart/form-data; boundary=xyz' },
      body: '--abc\r\nnope',
    },
    { name: 'home: multipart without boundary', method: 'POST', path: '/', headers: { 'content-type': 'multipart/form-data' }, body: 'x' },
    { name: 'home: bad percent-encoding', method: 'POST', path: '/', headers: FORM_TYPE, body: 'upstream_url=%ZZ%&display_name=%E0%A4%A' },
    { name: 'home: JSON body', method: 'POST', path: '/', headers: JSON_TYPE, body: '{"upstream_url":"https://example.com"}' },
    {
      name: 'home: huge fields',
      method: 'POST',
      path: '/',
      headers: FORM_TYPE,
      body: `upstream_url=${long(3000)}&display_name=${long(3000)}&auth_header_name=${long(3000)}`,
    },
    {
      name: 'home: unknown field',
      method: 'POST',
      path: '/',
      headers: FORM_TYPE,
      body: 'upstream_url=https%3A%2F%2Fexample.com&is_admin=1',
    },
    { name: 'home: repeated fields', method: 'POST', path: '/', headers: FORM_TYPE, body: 'upstream_url=a&upstream_url=b' },
    { name: 'home: odd query', method: 'GET', path: '/?%ZZ=%', ok: [200] },
    { name: 'home: PUT', method: 'PUT', path: '/', body: 'x' },
    { name: 'home: PROPFIND', method: 'PROPFIND', path: '/' },
    // JSON API
    ...bodyCases('POST', '/api/slugs', {}).map((c) => ({ ...c, name: `create: ${c.name}` })),
    ...bodyCases('PATCH', `/api/slugs/${S}`, auth).map((c) => ({ ...c, name: `patch: ${c.name}` })),
    { name: 'api: GET collection', method: 'GET', path: '/api/slugs' },
    { name: 'api: PUT', method: 'PUT', path: `/api/slugs/${S}`, headers: { ...auth, ...JSON_TYPE }, body: '{}' },
    { name: 'api: bad slug', method: 'GET', path: '/api/slugs/%ZZ', headers: auth },
    { name: 'api: traversal', method: 'DELETE', path: '/api/slugs/..%2F..%2Fetc', headers: auth },
    { name: 'api: huge bearer', method: 'GET', path: `/api/slugs/${S}`, headers: { authorization: `Bearer ${long(6000)}` } },
    { name: 'api: odd auth scheme', method: 'DELETE', path: `/api/slugs/${S}`, headers: { authorization: `Basic ${T}` } },
    // Discovery
    { name: 'AS metadata: POST', method: 'POST', path: '/.well-known/oauth-authorization-server', headers: JSON_TYPE, body: '{' },
    { name: 'PR metadata: bad slug', method: 'GET', path: '/.well-known/oauth-protected-resource/%ZZ/mcp' },
    { name: 'PR metadata: unknown', method: 'GET', path: '/.well-known/oauth-protected-resource/AAAAAAAAAAAA/mcp' },
    { name: 'PR metadata: root', method: 'GET', path: '/.well-known/oauth-protected-resource' },
    // Registration
    { name: 'register: bad JSON', method: 'POST', path: '/oauth/register', headers: JSON_TYPE, body: '{"redirect_uris":' },
    { name: 'register: array', method: 'POST', path: '/oauth/register', headers: JSON_TYPE, body: '[]' },
    {
      name: 'register: wrong types',
      method: 'POST',
      path: '/oauth/register',
      headers: JSON_TYPE,
      body: JSON.stringify({ redirect_uris: 'https://a.example/cb', client_name: 5 }),
    },
    {
      name: 'register: 11 redirect URIs',
      method: 'POST',
      path: '/oauth/register',
      headers: JSON_TYPE,
      body: JSON.stringify({
        redirect_uris: Array.from({ length: 11 }, (_, i) => `https://a.example/cb${i}`),
        token_endpoint_auth_method: 'none',
      }),
    },
    {
      name: 'register: long redirect URI',
      method: 'POST',
      path: '/oauth/register',
      headers: JSON_TYPE,
      body: JSON.stringify({ redirect_uris: [`https://a.example/${long(2100)}`], token_endpoint_auth_method: 'none' }),
    },
    {
      name: 'register: long client_name',
      method: 'POST',
      path: '/oauth/register',
      headers: JSON_TYPE,
      body: JSON.stringify({ redirect_uris: ['https://a.example/cb'], client_name: long(201), token_endpoint_auth_method: 'none' }),
    },
    {
      name: 'register: 20 KiB metadata',
      method: 'POST',
      path: '/oauth/register',
      headers: JSON_TYPE,
      body: JSON.stringify({ redirect_uris: ['https://a.example/cb'], token_endpoint_auth_method: 'none', extra: long(20 * 1024) }),
    },
    {
      name: 'register: control characters in name',
      method: 'POST',
      path: '/oauth/register',
      headers: JSON_TYPE,
      body: JSON.stringify({ redirect_uris: ['https://a.example/cb'], client_name: 'a\r\nb', token_endpoint_auth_method: 'none' }),
    },
    { name: 'register: invalid UTF-8', method: 'POST', path: '/oauth/register', headers: JSON_TYPE, body: BAD_UTF8 },
    { name: 'register: GET', method: 'GET', path: '/oauth/register' },
    // Token
    { name: 'token: JSON', method: 'POST', path: '/oauth/token', headers: JSON_TYPE, body: '{"grant_type":"authorization_code"}' },
    { name: 'token: no grant type', method: 'POST', path: '/oauth/token', headers: FORM_TYPE, body: 'code=abc' },
    {
      name: 'token: bad percent-encoding',
      method: 'POST',
      path: '/oauth/token',
      headers: FORM_TYPE,
      body: 'grant_type=authorization_code&code=%ZZ%&code_verifier=%',
    },
    {
      name: 'token: forged code',
      method: 'POST',
      path: '/oauth/token',
      headers: FORM_TYPE,
      body: `grant_type=authorization_code&code=${S}:x:y&client_id=nope&code_verifier=v`,
    },
    {
      name: 'token: huge code',
      method: 'POST',
      path: '/oauth/token',
      headers: FORM_TYPE,
      body: `grant_type=authorization_code&code=${long(30000)}`,
    },
    {
      name: 'token: repeated resource',
      method: 'POST',
      path: '/oauth/token',
      headers: FORM_TYPE,
      body: 'grant_type=refresh_token&refresh_token=a:b:c&resource=x&resource=y',
    },
    {
      name: 'token: odd resource',
      method: 'POST',
      path: '/oauth/token',
      headers: FORM_TYPE,
      body: 'grant_type=refresh_token&refresh_token=a:b:c&resource=%00%ff',
    },
    {
      name: 'token: huge client_id',
      method: 'POST',
      path: '/oauth/token',
      headers: FORM_TYPE,
      body: `grant_type=authorization_code&code=${S}:a:b&client_id=${long(1000)}&code_verifier=${long(50)}`,
    },
    {
      name: 'token: huge basic auth',
      method: 'POST',
      path: '/oauth/token',
      headers: { ...FORM_TYPE, authorization: `Basic ${Buffer.from(`${long(1000)}:secret`).toString('base64')}` },
      body: `grant_type=refresh_token&refresh_token=${S}:a:b`,
    },
    {
      name: 'token: 700-character client_id in Basic auth',
      method: 'POST',
      path: '/oauth/token',
      headers: { ...FORM_TYPE, authorization: `Basic ${Buffer.from(`${long(700)}:s`).toString('base64')}` },
      body: `grant_type=refresh_token&refresh_token=${S}:a:b`,
    },
    {
      name: 'token: Basic auth not base64',
      method: 'POST',
      path: '/oauth/token',
      headers: { ...FORM_TYPE, authorization: 'Basic %%%' },
      body: `grant_type=refresh_token&refresh_token=${S}:a:b`,
    },
    {
      name: 'token: refresh token with a 480-character part',
      method: 'POST',
      path: '/oauth/token',
      headers: FORM_TYPE,
      body: `grant_type=refresh_token&refresh_token=${S}:${long(480)}:x&client_id=abc`,
    },
    {
      name: 'token: code with a 480-character part',
      method: 'POST',
      path: '/oauth/token',
      headers: FORM_TYPE,
      body: `grant_type=authorization_code&code=${S}:${long(480)}:x&client_id=abc&code_verifier=${long(43)}`,
    },
    {
      name: 'token: revoking a token with a 480-character part',
      method: 'POST',
      path: '/oauth/token',
      headers: FORM_TYPE,
      body: `token=${S}:${long(480)}:x&client_id=abc`,
    },
    {
      name: 'token: revoke huge token',
      method: 'POST',
      path: '/oauth/token',
      headers: FORM_TYPE,
      body: `token=${S}:${long(700)}:x&client_id=abc`,
    },
    {
      name: 'token: refresh with long grant part',
      method: 'POST',
      path: '/oauth/token',
      headers: FORM_TYPE,
      body: `grant_type=refresh_token&refresh_token=${S}:${long(700)}:x&client_id=abc`,
    },
    { name: 'token: GET', method: 'GET', path: '/oauth/token?grant_type=x' },
    {
      name: 'token: invalid UTF-8',
      method: 'POST',
      path: '/oauth/token',
      headers: FORM_TYPE,
      body: Buffer.concat([Buffer.from('grant_type='), BAD_UTF8]),
    },
    // Authorization page
    { name: 'authorize: nothing', method: 'GET', path: '/authorize' },
    { name: 'authorize: bad percent-encoding', method: 'GET', path: '/authorize?client_id=%ZZ&resource=%E0%A4%A&state=%' },
    {
      name: 'authorize: unknown client',
      method: 'GET',
      path: `/authorize?response_type=code&client_id=nope&resource=${S}&redirect_uri=https%3A%2F%2Fevil.example%2F`,
    },
    { name: 'authorize: garbage endpoint', method: 'GET', path: '/authorize?endpoint=%00%0a%ff&client_id=x' },
    { name: 'authorize: javascript endpoint', method: 'GET', path: '/authorize?endpoint=javascript:alert(1)' },
    { name: 'authorize: long query', method: 'GET', path: `/authorize?client_id=${long(6000)}&resource=${S}` },
    { name: 'authorize: POST nothing', method: 'POST', path: '/authorize', headers: FORM_TYPE, body: '' },
    {
      name: 'authorize: POST garbage handle',
      method: 'POST',
      path: '/authorize',
      headers: FORM_TYPE,
      body: `action=approve&handle=${long(3000)}&api_key=k`,
    },
    { name: 'authorize: POST deny garbage', method: 'POST', path: '/authorize', headers: FORM_TYPE, body: 'action=deny&handle=%ZZ' },
    { name: 'authorize: POST odd action', method: 'POST', path: '/authorize', headers: FORM_TYPE, body: 'action=%00&handle=x' },
    { name: 'authorize: POST JSON', method: 'POST', path: '/authorize', headers: JSON_TYPE, body: '{"action":"approve"}' },
    {
      name: 'authorize: POST multipart garbage',
      method: 'POST',
      path: '/authorize',
      headers: { 'content-type': 'multipart/form-data; boundary=q' },
      body: '--z',
    },
    { name: 'authorize: DELETE', method: 'DELETE', path: '/authorize' },
    // The proxy
    { name: 'mcp: PUT', method: 'PUT', path: `/${S}/mcp`, headers: bearer, body: '{}' },
    { name: 'mcp: PATCH', method: 'PATCH', path: `/${S}/mcp`, headers: bearer, body: '{}' },
    { name: 'mcp: bad slug encoding', method: 'POST', path: '/%ZZ%/mcp', headers: JSON_TYPE, body: '{}' },
    { name: 'mcp: short slug', method: 'POST', path: '/abc/mcp', headers: JSON_TYPE, body: '{}' },
    {
      name: 'mcp: forged token',
      method: 'POST',
      path: `/${S}/mcp`,
      headers: { ...JSON_TYPE, authorization: `Bearer ${S}:${long(20)}:${long(40)}` },
      body: '{}',
    },
    {
      name: 'mcp: garbage token',
      method: 'POST',
      path: `/${S}/mcp`,
      headers: { ...JSON_TYPE, authorization: 'Bearer %%%:::' },
      body: '{}',
    },
    {
      name: 'mcp: token with a long user part',
      method: 'POST',
      path: `/${S}/mcp`,
      headers: { ...JSON_TYPE, authorization: `Bearer ${long(600)}:${long(20)}:${long(40)}` },
      body: '{}',
    },
    {
      name: 'mcp: token with a long grant part',
      method: 'POST',
      path: `/${S}/mcp`,
      headers: { ...JSON_TYPE, authorization: `Bearer ${S}:${long(600)}:${long(40)}` },
      body: '{}',
    },
    {
      name: 'mcp: huge token',
      method: 'POST',
      path: `/${S}/mcp`,
      headers: { ...JSON_TYPE, authorization: `Bearer ${long(8000)}` },
      body: '{}',
    },
    { name: 'mcp: empty bearer', method: 'POST', path: `/${S}/mcp`, headers: { ...JSON_TYPE, authorization: 'Bearer ' }, body: '{}' },
    {
      name: 'mcp: basic auth',
      method: 'POST',
      path: `/${S}/mcp`,
      headers: { ...JSON_TYPE, authorization: 'Basic Zm9vOmJhcg==' },
      body: '{}',
    },
    {
      name: 'mcp: token for another endpoint',
      method: 'POST',
      path: '/AAAAAAAAAAAA/mcp',
      headers: { ...JSON_TYPE, ...bearer },
      body: '{}',
    },
    { name: 'mcp: query junk', method: 'GET', path: `/${S}/mcp?%ZZ=%`, headers: { accept: 'text/event-stream' } },
    // Legacy HTTP+SSE routes
    { name: 'sse: no token', method: 'GET', path: `/${S}/sse`, headers: { accept: 'text/event-stream' } },
    { name: 'sse: PUT', method: 'PUT', path: `/${S}/sse`, headers: bearer, body: '{}' },
    { name: 'sse: bad slug', method: 'GET', path: '/%ZZ/sse' },
    { name: 'messages: no token', method: 'POST', path: `/${S}/messages?to=x&sig=y`, headers: JSON_TYPE, body: '{}' },
    {
      name: 'messages: forged signature',
      method: 'POST',
      path: `/${S}/messages?to=%2Fmessages%3FsessionId%3D1&sig=${long(43)}`,
      headers: { ...JSON_TYPE, ...bearer },
      body: '{}',
    },
    { name: 'messages: no parameters', method: 'POST', path: `/${S}/messages`, headers: { ...JSON_TYPE, ...bearer }, body: '{}' },
    {
      name: 'messages: bad percent-encoding',
      method: 'POST',
      path: `/${S}/messages?to=%ZZ&sig=%`,
      headers: { ...JSON_TYPE, ...bearer },
      body: '{}',
    },
    {
      name: 'messages: huge to',
      method: 'POST',
      path: `/${S}/messages?to=${long(6000)}&sig=x`,
      headers: { ...JSON_TYPE, ...bearer },
      body: '{}',
    },
    { name: 'messages: GET', method: 'GET', path: `/${S}/messages?to=x&sig=y`, headers: bearer },
    // Everything else
    { name: 'unknown path', method: 'GET', path: '/%ZZ/%%/..%2f' },
    { name: 'unknown method', method: 'SEARCH', path: '/healthz' },
    { name: 'unknown method on an endpoint', method: 'PURGE', path: `/${S}/mcp` },
    { name: 'asset traversal', method: 'GET', path: '/assets/..%2f..%2fpackage.json' },
    { name: 'healthz POST', method: 'POST', path: '/healthz', headers: JSON_TYPE, body: '{}' },
  ];
}

for (const target of targets())
  describe(`malformed input on every route (${target.name})`, () => {
    let server: Running;
    let upstream: Upstream;
    let slug: string;
    let manageToken: string;
    let accessToken: string;

    before(async () => {
      upstream = await startUpstream({ key: KEY });
      server = await target.start({ LOG_LEVEL: 'warn' });
      const created = await createEndpoint(server, { upstream_url: upstream.url });
      slug = created.body.slug!;
      manageToken = created.body.manage_token!;
      accessToken = (await authorize(server, created.body.mcp_endpoint!, KEY)).accessToken;
    });
    after(async () => {
      await server?.stop();
      await upstream?.close();
    });

    test('each gets a 4xx with a JSON or HTML message, no stack trace or internal path, and the server stays healthy', async () => {
      const all = cases(slug, manageToken, accessToken);
      assert.ok(all.length >= 90, `${all.length} cases`);
      const failures: string[] = [];
      for (const c of all) {
        const response = await rawRequest(server.url, c.method, c.path, {
          headers: c.headers ?? {},
          ...(c.body !== undefined ? { body: c.body } : {}),
        });
        const type = String(response.headers['content-type'] ?? '');
        const problems: string[] = [];
        if ((response.status < 400 || response.status >= 500) && !c.ok?.includes(response.status))
          problems.push(`status ${response.status}`);
        if (!/^(application\/json|text\/html)/.test(type)) problems.push(`content-type ${JSON.stringify(type)}`);
        if (type.startsWith('application/json')) {
          try {
            const body = JSON.parse(response.body) as Record<string, unknown>;
            if (!body.error) problems.push('JSON without an error');
          } catch {
            problems.push('body is not JSON');
          }
        }
        if (response.headers['x-content-type-options'] !== 'nosniff') problems.push('no nosniff');
        for (const pattern of LEAK_PATTERNS) if (pattern.test(response.body)) problems.push(`body matches ${pattern}`);
        const health = await fetch(`${server.url}/healthz`);
        if (health.status !== 200) problems.push(`healthz ${health.status} afterwards`);
        await health.body?.cancel();
        if (problems.length)
          failures.push(`${c.name} (${c.method} ${c.path.slice(0, 80)}): ${problems.join(', ')}\n    ${response.body.slice(0, 200)}`);
      }
      assert.deepEqual(failures, [], `\n${failures.join('\n')}`);
      // Nothing above made the server log an unexpected failure.
      assert.doesNotMatch(server.output(), /unhandled error/);
    });
  });

for (const target of targets())
  describe(`client registration limits (${target.name})`, () => {
    test('registrations at the limits are accepted; one step over is refused with invalid_client_metadata', async () => {
      const server = await target.start();
      const register = async (metadata: Record<string, unknown>) => {
        const response = await fetch(`${server.url}/oauth/register`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ token_endpoint_auth_method: 'none', ...metadata }),
        });
        return { status: response.status, body: (await response.json()) as Record<string, unknown> };
      };
      const uris = (count: number, length = 40) =>
        Array.from({ length: count }, (_, i) => `https://app.example/${String(i).padEnd(length - 20, 'p')}`);
      try {
        const atLimit = await register({ redirect_uris: uris(10), client_name: 'n'.repeat(200) });
        assert.equal(atLimit.status, 201, JSON.stringify(atLimit.body));
        const longUri = `https://app.example/${'u'.repeat(2048 - 'https://app.example/'.length)}`;
        assert.equal((await register({ redirect_uris: [longUri] })).status, 201);
        assert.equal((await register({ redirect_uris: uris(1), software_id: 's'.repeat(256), extra: 'e'.repeat(15 * 1024) })).status, 201);

        const over: [string, Record<string, unknown>, RegExp][] = [
          ['11 redirect URIs', { redirect_uris: uris(11) }, /redirect_uris/],
          ['a 2049-character redirect URI', { redirect_uris: [`${longUri}u`] }, /2048/],
          ['a 201-character client_name', { redirect_uris: uris(1), client_name: 'n'.repeat(201) }, /client_name/],
          ['metadata over 16 KiB', { redirect_uris: uris(1), extra: 'e'.repeat(16 * 1024) }, /16384 bytes/],
          ['a client_name with a line break', { redirect_uris: uris(1), client_name: 'a\nb' }, /control characters/],
        ];
        for (const [name, metadata, message] of over) {
          const refused = await register(metadata);
          assert.equal(refused.status, 400, name);
          assert.equal(refused.body.error, 'invalid_client_metadata', name);
          assert.match(String(refused.body.error_description), message, name);
        }
      } finally {
        await server.stop();
      }
    });
  });
