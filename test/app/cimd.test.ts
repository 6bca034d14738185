import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { createMemoryStorage } from '../../src/storage/memory.ts';
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

/**
 * What every refused document reads as, wherever it is shown: which of them happened (no answer,
 * HTTP 401, a bad document) would tell a stranger whether something listens at a host and port.
 */
const ONE_SENTENCE = /cannot be used: it could not be fetched, or is not a valid client metadata document/;

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

/**
 * Documents that must be refused, served at `clientId`: what the server answers, and what the
 * server log says about it.
 */
const refusals = (clientId = CHATGPT_ID): [string, () => Response, RegExp][] => {
  const document = () => ({ ...chatgptDocument(), client_id: clientId });
  return [
    [
      'a client_id inside that is not the URL',
      () => Response.json({ ...document(), client_id: `${clientId}/other` }),
      /client_id .* does not match/,
    ],
    ['a redirect', () => new Response(null, { status: 302, headers: { location: 'https://elsewhere.example.com/doc' } }), /redirect/],
    ['more than 5 KiB', () => Response.json({ ...document(), padding: 'x'.repeat(6000) }), /larger than 5120 bytes/],
    ['not JSON', () => new Response('<html>', { headers: { 'content-type': 'text/html' } }), /not JSON/],
    [
      'a javascript: redirect URI',
      () => Response.json({ ...document(), redirect_uris: [CHATGPT_CALLBACK, 'javascript:alert(1)'] }),
      /javascript: scheme/,
    ],
    ['a client secret', () => Response.json({ ...document(), client_secret: 'abc' }), /secret/],
    ['no client_name', () => Response.json({ ...document(), client_name: undefined }), /client_name/],
    ['HTTP 401', () => new Response('who are you', { status: 401 }), /HTTP 401/],
    ['HTTP 500', () => new Response('oops', { status: 500 }), /HTTP 500/],
  ];
};

/** The info line the server writes about a refused document (the client is told less). */
function refusalLog(lines: string[]): string {
  const line = lines.find((text) => text.includes('client metadata document refused'));
  assert.ok(line, `a log line says why; got:\n${lines.join('\n')}`);
  assert.equal(JSON.parse(line).level, 'info');
  return line;
}

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
    assert.match(page.text, /Claude wants to use your key Published by claude\.ai, which vouches for that name/);
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
    // A document never fetched good before: no earlier copy can stand in for it.
    const clientId = 'https://chatgpt.com/oauth/not-yet.json';
    chatgpt = () => new Response('down', { status: 503 });
    const refused = await k.openConsent(endpoint, cimdClient(clientId, CHATGPT_CALLBACK));
    assert.equal(refused.status, 400);
    assert.match(refused.text, /chatgpt\.com/);
    assert.match(refused.text, ONE_SENTENCE);
    assert.doesNotMatch(refused.text, /503/, 'what answered is not told');
    chatgpt = () => Response.json({ ...chatgptDocument(), client_id: clientId }, { headers: { 'cache-control': 'no-store' } });
    const page = await k.openConsent(endpoint, cimdClient(clientId, CHATGPT_CALLBACK));
    assert.equal(page.status, 200, page.text);
  });

  test('a redirect_uri the document does not list is refused', async () => {
    const page = await k.openConsent(endpoint, cimdClient(CLAUDE_ID, 'https://evil.example.com/callback'));
    assert.equal(page.status, 400);
    assert.match(page.text, /Invalid redirect URI/);
  });

  for (const [index, [what, , detail]] of refusals().entries())
    test(`a document with ${what} is refused with the one sentence; the server log says why`, async () => {
      // Each at a URL of its own that never served a good document (one that had would stand in).
      const clientId = `https://chatgpt.com/oauth/refused-${index}.json`;
      chatgpt = refusals(clientId)[index]![1];
      const logged = k.logs.length;
      const page = await k.openConsent(endpoint, cimdClient(clientId, CHATGPT_CALLBACK));
      assert.equal(page.status, 400);
      assert.match(page.text, ONE_SENTENCE);
      assert.match(refusalLog(k.logs.slice(logged)), detail);
      if (what === 'a redirect') assert.ok(!k.upstreams.requests.some((request) => request.url.includes('elsewhere')), 'not followed');
    });

  test('a metadata URL is refused at the token endpoint when its document cannot be fetched', async () => {
    chatgpt = () => new Response('gone', { status: 404 });
    const slug = new URL(endpoint).pathname.split('/')[1];
    const response = await k.token({
      grant_type: 'refresh_token',
      refresh_token: `${slug}:b:c`,
      client_id: 'https://chatgpt.com/oauth/gone.json',
    });
    assert.equal(response.status, 401);
    const body = (await response.json()) as { error: string; error_description: string };
    assert.equal(body.error, 'invalid_client');
    assert.match(body.error_description, ONE_SENTENCE);
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

describe('metadata documents at the token endpoint, in-process', () => {
  const APPS = 'https://apps.example.com';
  /** The document server's clock-independent answers, by path; each test sets the ones it uses. */
  const answers = new Map<string, () => Response>();
  let k: InProcess;
  let slug: string;
  before(async () => {
    k = await startApp({ env: { RATE_LIMIT_AUTHORIZE_PAGE: '3/600' } });
    slug = new URL((await k.mustCreateEndpoint()).mcp_endpoint!).pathname.split('/')[1]!;
    k.upstreams.serve(APPS, (request) => (answers.get(new URL(request.url).pathname) ?? (() => new Response('no', { status: 404 })))());
  });
  after(() => k.close());

  const fetchesOf = (url: string) => k.upstreams.requests.filter((request) => request.url === url).length;
  /** A refresh for one of our endpoints (so the document is looked at), from `clientAddress`. */
  const refreshAs = (clientId: string, clientAddress: string) =>
    k.fetch('/oauth/token', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: `${slug}:b:c`, client_id: clientId }),
      clientAddress,
    });

  test('every failure reads the same to the client, whatever answered; the server log keeps the reason', async () => {
    const failures: [string, string, RegExp][] = refusals().map(([what, , detail], index) => {
      const clientId = `${APPS}/failure-${index}.json`;
      const served = refusals(clientId)[index]![1];
      answers.set(new URL(clientId).pathname, served);
      return [what, clientId, detail];
    });
    // A refused connection: a host nobody serves.
    failures.push(['no answer (a refused connection)', 'https://nobody-listens.example.com/client.json', /could not be reached/]);
    const descriptions = new Set<string>();
    for (const [index, [what, url, detail]] of failures.entries()) {
      const logged = k.logs.length;
      // Each from its own address: the per-address limit is not what this test is about.
      const response = await refreshAs(url, `203.0.113.${10 + index}`);
      assert.equal(response.status, 401, what);
      const body = (await response.json()) as { error: string; error_description: string };
      assert.equal(body.error, 'invalid_client', what);
      assert.match(body.error_description, ONE_SENTENCE, what);
      descriptions.add(body.error_description);
      assert.match(refusalLog(k.logs.slice(logged)), detail, `${what}: the log says why`);
    }
    assert.deepEqual([...descriptions].length, 1, `one sentence for every failure, got:\n${[...descriptions].join('\n')}`);
  });

  test('one address makes at most the per-address number of fetches, however many token requests; another address still gets its own', async () => {
    answers.set('/down.json', () => new Response('down', { status: 503 }));
    const address = '198.51.100.40';
    const before = k.upstreams.requests.length;
    const answersSeen: number[] = [];
    for (let i = 0; i < 40; i++) {
      const response = await refreshAs(`${APPS}/down.json?n=${i}`, address);
      answersSeen.push(response.status);
      if (response.status === 429) {
        assert.ok(Number(response.headers.get('retry-after')) >= 1, 'a 429 says when to come back');
        assert.equal(((await response.json()) as { error: string }).error, 'rate_limited');
      } else await response.body?.cancel();
    }
    assert.equal(k.upstreams.requests.length - before, 3, 'RATE_LIMIT_AUTHORIZE_PAGE=3/600: three fetches, not forty');
    assert.deepEqual(answersSeen.slice(0, 3), [401, 401, 401]);
    assert.ok(
      answersSeen.slice(3).every((status) => status === 429),
      `the rest refused before any fetch: ${answersSeen}`,
    );
    const elsewhere = await refreshAs(`${APPS}/down.json?n=elsewhere`, '198.51.100.41');
    assert.equal(elsewhere.status, 401);
    assert.equal(k.upstreams.requests.length - before, 4);
  });

  test('the authorization page and the token endpoint share one budget per address', async () => {
    answers.set('/shared.json', () => new Response('down', { status: 503 }));
    const address = '198.51.100.50';
    for (let i = 0; i < 2; i++) {
      const page = await k.fetch(
        `/authorize?${new URLSearchParams({
          response_type: 'code',
          client_id: `${APPS}/shared.json?page=${i}`,
          redirect_uri: `${APPS}/cb`,
          code_challenge: pkce().challenge,
          code_challenge_method: 'S256',
          resource: `${k.url}/${slug}/mcp`,
        })}`,
        { clientAddress: address },
      );
      assert.equal(page.status, 400, 'the page fetched the broken document and refused it');
    }
    assert.equal((await refreshAs(`${APPS}/shared.json?token=1`, address)).status, 401, 'the third fetch');
    const fourth = await refreshAs(`${APPS}/shared.json?token=2`, address);
    assert.equal(fourth.status, 429);
    assert.equal(fetchesOf(`${APPS}/shared.json?token=2`), 0);
  });
});

describe('a good document already held is used while a refetch fails, for a bounded time, in-process', () => {
  const APP_ID = 'https://app.example.com/client.json';
  const CALLBACK = 'https://app.example.com/callback';
  const document = () => ({ client_id: APP_ID, client_name: 'Some app', redirect_uris: [CALLBACK], token_endpoint_auth_method: 'none' });
  /** The store's clock, moved by the test (the engine keeps its own). */
  let now = Date.now();
  let answer: () => Response;
  let k: InProcess;
  let endpoint: string;
  before(async () => {
    const storage = createMemoryStorage({ now: () => now });
    k = await startApp({ env: { RATE_LIMIT_AUTHORIZE_PAGE: '4/600' }, platform: { kv: storage.kv, counters: storage.counters } });
    endpoint = (await k.mustCreateEndpoint()).mcp_endpoint!;
    k.upstreams.serve('https://app.example.com', () => answer());
  });
  after(() => k.close());

  const fetches = () => k.upstreams.requests.filter((request) => request.url === APP_ID).length;
  const refreshWith = (refreshToken: string, clientAddress?: string) =>
    k.fetch('/oauth/token', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken, client_id: APP_ID }),
      ...(clientAddress ? { clientAddress } : {}),
    });

  test('a no-store document that breaks after sign-in: each refresh tries it again, and uses the last good copy until an hour has passed', async () => {
    answer = () => Response.json(document(), { headers: { 'cache-control': 'no-store' } });
    const grant = await k.authorize(endpoint, { client: { client_id: APP_ID, redirect_uris: [CALLBACK], ...pkce() } });
    let refreshToken = grant.refreshToken;

    const broken: (() => Response)[] = [
      () => new Response('bad gateway', { status: 502 }),
      () => new Response('{"client_id": ', { headers: { 'content-type': 'application/json' } }),
      () => Response.json({ ...document(), redirect_uris: [] }),
    ];
    for (const [index, brokenAnswer] of broken.entries()) {
      answer = brokenAnswer;
      const before = fetches();
      // From addresses of their own: the per-address limit is the next test's subject.
      const refreshed = await refreshWith(refreshToken, `203.0.113.${60 + index}`);
      assert.equal(refreshed.status, 200, await refreshed.clone().text());
      assert.equal(fetches() - before, 1, 'the document was tried again (no-store), and its failure did not stop the refresh');
      refreshToken = ((await refreshed.json()) as { refresh_token: string }).refresh_token;
    }

    // Past the bound, a document that still fails is refused: a retired client_id does not live on.
    now += 3601 * 1000;
    const late = await refreshWith(refreshToken);
    assert.equal(late.status, 401);
    assert.match(((await late.json()) as { error_description: string }).error_description, ONE_SENTENCE);
  });

  test('past the per-address limit, a document already held is used without fetching; one never held is refused with 429', async () => {
    now += 3601 * 1000;
    answer = () => Response.json(document(), { headers: { 'cache-control': 'no-store' } });
    const grant = await k.authorize(endpoint, { client: { client_id: APP_ID, redirect_uris: [CALLBACK], ...pkce() } });
    // The flow above fetched three times (page, approval, code exchange); one fetch is left.
    const spent = await k.token({ grant_type: 'refresh_token', refresh_token: grant.refreshToken, client_id: APP_ID });
    assert.equal(spent.status, 200);
    const refreshToken = ((await spent.json()) as { refresh_token: string }).refresh_token;
    const before = fetches();
    const refreshed = await refreshWith(refreshToken);
    assert.equal(refreshed.status, 200, await refreshed.clone().text());
    assert.equal(fetches(), before, 'over the limit: the copy held is used, nothing is fetched');
    const slug = new URL(endpoint).pathname.split('/')[1];
    const unknown = await k.token({
      grant_type: 'refresh_token',
      refresh_token: `${slug}:b:c`,
      client_id: 'https://app.example.com/other.json',
    });
    assert.equal(unknown.status, 429);
  });
});
