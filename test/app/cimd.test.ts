import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { type Client, INITIALIZE, type InProcess, KEY, pkce, readRpc, startApp } from '../support/in-process.ts';

/**
 * Client ID Metadata Documents: a client presents an https URL as its `client_id`, and the
 * document there is its registration. Documents are served here in-process, shaped like the ones
 * Claude and ChatGPT publish; they are fetched through the platform's upstream fetch like every
 * outbound request (the in-process upstreams record each one).
 */

const CLAUDE_ID = 'https://claude.ai/oauth/mcp-oauth-client-metadata';
const CLAUDE_CALLBACK = 'https://claude.ai/api/mcp/auth_callback';
const CHATGPT_ID = 'https://chatgpt.com/oauth/client-metadata.json';
const CHATGPT_CALLBACK = 'https://chatgpt.com/connector_platform_oauth_redirect';

const claudeDocument = () => ({
  client_id: CLAUDE_ID,
  client_name: 'Claude',
  client_uri: 'https://claude.ai',
  logo_uri: 'https://claude.ai/favicon.ico',
  redirect_uris: [CLAUDE_CALLBACK, 'https://claude.com/api/mcp/auth_callback'],
  grant_types: ['authorization_code', 'refresh_token'],
  response_types: ['code'],
  token_endpoint_auth_method: 'none',
});

const chatgptDocument = () => ({
  client_id: CHATGPT_ID,
  client_name: 'ChatGPT',
  client_uri: 'https://chatgpt.com',
  redirect_uris: [CHATGPT_CALLBACK],
  grant_types: ['authorization_code', 'refresh_token'],
  response_types: ['code'],
  token_endpoint_auth_method: 'none',
  scope: 'mcp offline_access',
});

describe('Client ID Metadata Documents, in-process', () => {
  let k: InProcess;
  let endpoint: string;
  /** What the document servers answer next; each test sets its own. */
  let claude: () => Response;
  let chatgpt: () => Response;
  before(async () => {
    k = await startApp();
    endpoint = (await k.mustCreateEndpoint()).mcp_endpoint!;
    k.upstreams.serve('https://claude.ai', () => claude());
    k.upstreams.serve('https://chatgpt.com', () => chatgpt());
  });
  beforeEach(() => {
    claude = () => Response.json(claudeDocument(), { headers: { 'cache-control': 'public, max-age=3600' } });
    chatgpt = () => Response.json(chatgptDocument(), { headers: { 'cache-control': 'no-store' } });
  });
  after(() => k.close());

  const fetchesOf = (url: string) => k.upstreams.requests.filter((request) => request.url === url).length;
  const cimdClient = (clientId: string, redirect: string): Client => ({ client_id: clientId, redirect_uris: [redirect], ...pkce() });

  test('the authorization server metadata advertises CIMD', async () => {
    const metadata = (await (await k.fetch('/.well-known/oauth-authorization-server')).json()) as Record<string, unknown>;
    assert.equal(metadata.client_id_metadata_document_supported, true);
  });

  test('a Claude-shaped client: the consent page names the document host, the flow completes, refresh works, the document is fetched once while fresh', async () => {
    const before = fetchesOf(CLAUDE_ID);
    const client = cimdClient(CLAUDE_ID, CLAUDE_CALLBACK);
    const page = await k.openConsent(endpoint, client);
    assert.equal(page.status, 200, page.text);
    assert.match(page.text, /Claude is published by claude\.ai/);
    const approved = await k.submitConsent(page, { api_key: KEY, action: 'approve' });
    assert.equal(approved.status, 302);
    const location = new URL(approved.headers.get('location')!);
    assert.equal(`${location.origin}${location.pathname}`, CLAUDE_CALLBACK);
    const exchanged = await k.token({
      grant_type: 'authorization_code',
      code: location.searchParams.get('code')!,
      code_verifier: client.verifier,
      client_id: CLAUDE_ID,
      redirect_uri: CLAUDE_CALLBACK,
      resource: endpoint,
    });
    assert.equal(exchanged.status, 200, await exchanged.clone().text());
    const tokens = (await exchanged.json()) as { access_token: string; refresh_token: string };
    assert.ok((await readRpc(await k.mcp(endpoint, tokens.access_token, INITIALIZE))).result?.serverInfo);
    const refreshed = await k.token({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token, client_id: CLAUDE_ID });
    assert.equal(refreshed.status, 200);
    assert.equal(fetchesOf(CLAUDE_ID) - before, 1, 'max-age=3600: one fetch serves the whole flow');
    const sent = k.upstreams.requests.find((request) => request.url === CLAUDE_ID)!;
    assert.equal(sent.headers.authorization, undefined, 'nothing of ours goes with the fetch');
  });

  test('a ChatGPT-shaped client with a no-store document: fetched again on every step, and the flow completes', async () => {
    const before = fetchesOf(CHATGPT_ID);
    const grant = await k.authorize(endpoint, { client: cimdClient(CHATGPT_ID, CHATGPT_CALLBACK) });
    assert.ok(grant.accessToken);
    assert.ok(fetchesOf(CHATGPT_ID) - before >= 3, 'authorize page, approval and token exchange each fetched it');
  });

  test('a failed fetch is not cached: the next attempt fetches again and succeeds', async () => {
    chatgpt = () => new Response('down', { status: 503 });
    const refused = await k.openConsent(endpoint, cimdClient(CHATGPT_ID, CHATGPT_CALLBACK));
    assert.equal(refused.status, 400);
    assert.match(refused.text, /chatgpt\.com/);
    assert.match(refused.text, /HTTP 503/);
    chatgpt = () => Response.json(chatgptDocument(), { headers: { 'cache-control': 'no-store' } });
    const page = await k.openConsent(endpoint, cimdClient(CHATGPT_ID, CHATGPT_CALLBACK));
    assert.equal(page.status, 200, page.text);
  });

  test('a redirect_uri the document does not list is refused', async () => {
    const page = await k.openConsent(endpoint, cimdClient(CLAUDE_ID, 'https://evil.example.com/callback'));
    assert.equal(page.status, 400);
    assert.match(page.text, /Invalid redirect URI/);
  });

  const refusals: [string, () => Response, RegExp][] = [
    [
      'a client_id inside that is not the URL',
      () => Response.json({ ...chatgptDocument(), client_id: 'https://chatgpt.com/other' }),
      /client_id .* does not match/,
    ],
    ['a redirect', () => new Response(null, { status: 302, headers: { location: 'https://elsewhere.example.com/doc' } }), /redirect/],
    ['more than 5 KiB', () => Response.json({ ...chatgptDocument(), padding: 'x'.repeat(6000) }), /larger than 5120 bytes/],
    ['not JSON', () => new Response('<html>', { headers: { 'content-type': 'text/html' } }), /not JSON/],
    [
      'a javascript: redirect URI',
      () => Response.json({ ...chatgptDocument(), redirect_uris: [CHATGPT_CALLBACK, 'javascript:alert(1)'] }),
      /javascript: scheme/,
    ],
    ['a client secret', () => Response.json({ ...chatgptDocument(), client_secret: 'abc' }), /secret/],
    ['no client_name', () => Response.json({ ...chatgptDocument(), client_name: undefined }), /client_name/],
  ];
  for (const [what, answer, message] of refusals)
    test(`a document with ${what} is refused with a page that says why`, async () => {
      chatgpt = answer;
      const page = await k.openConsent(endpoint, cimdClient(CHATGPT_ID, CHATGPT_CALLBACK));
      assert.equal(page.status, 400);
      assert.match(page.text, message);
      if (what === 'a redirect') assert.ok(!k.upstreams.requests.some((request) => request.url.includes('elsewhere')), 'not followed');
    });

  test('a metadata URL is refused at the token endpoint when its document cannot be fetched', async () => {
    chatgpt = () => new Response('gone', { status: 404 });
    const slug = new URL(endpoint).pathname.split('/')[1];
    const response = await k.token({ grant_type: 'refresh_token', refresh_token: `${slug}:b:c`, client_id: CHATGPT_ID });
    assert.equal(response.status, 401);
    const body = (await response.json()) as { error: string; error_description: string };
    assert.equal(body.error, 'invalid_client');
    assert.match(body.error_description, /HTTP 404/);
  });

  test('a token request for no endpoint of ours fetches no document', async () => {
    const before = fetchesOf(CHATGPT_ID);
    const response = await k.token({ grant_type: 'refresh_token', refresh_token: 'AAAAAAAAAAAA:b:c', client_id: CHATGPT_ID });
    assert.equal(response.status, 400);
    // invalid_grant, or invalid_client when no earlier step left the client known: either way, no fetch.
    assert.match(((await response.json()) as { error: string }).error, /^invalid_(grant|client)$/);
    assert.equal(fetchesOf(CHATGPT_ID), before);
  });

  test('http and private client_id URLs are refused (https only unless ALLOW_PRIVATE_UPSTREAMS)', async () => {
    k.upstreams.serve('http://claude.ai', () => Response.json({ ...claudeDocument(), client_id: 'http://claude.ai/oauth/doc' }));
    const page = await k.openConsent(endpoint, cimdClient('http://claude.ai/oauth/doc', CLAUDE_CALLBACK));
    assert.equal(page.status, 400);
    assert.match(page.text, /https/);
    assert.ok(!k.upstreams.requests.some((request) => request.url === 'http://claude.ai/oauth/doc'), 'never fetched');
  });
});

describe('metadata document fetches are rate-limited per address, in-process', () => {
  let k: InProcess;
  let endpoint: string;
  before(async () => {
    k = await startApp({ env: { RATE_LIMIT_AUTHORIZE_PAGE: '2/600' } });
    endpoint = (await k.mustCreateEndpoint()).mcp_endpoint!;
    k.upstreams.serve('https://apps.example.com', (request) =>
      Response.json({ client_id: request.url, client_name: 'Some app', redirect_uris: ['https://apps.example.com/cb'] }),
    );
  });
  after(() => k.close());

  test('a third document from one address within the window is refused with 429 before any fetch; another address still gets its page', async () => {
    const open = (n: number, clientAddress?: string) =>
      k.fetch(
        `/authorize?${new URLSearchParams({
          response_type: 'code',
          client_id: `https://apps.example.com/app-${n}.json`,
          redirect_uri: 'https://apps.example.com/cb',
          code_challenge: pkce().challenge,
          code_challenge_method: 'S256',
          resource: endpoint,
        })}`,
        clientAddress ? { clientAddress } : {},
      );
    assert.equal((await open(1)).status, 200);
    const fetches = k.upstreams.requests.length;
    const third = await open(2).then(() => open(3));
    assert.equal(third.status, 429);
    assert.ok(third.headers.get('retry-after'));
    assert.ok(!k.upstreams.requests.slice(fetches).some((request) => request.url.endsWith('app-3.json')), 'not fetched');
    assert.equal((await open(4, '203.0.113.80')).status, 200);
  });
});
