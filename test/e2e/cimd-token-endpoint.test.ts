import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { mustCreateEndpoint } from '../support/api.ts';
import { Browser } from '../support/browser.ts';
import { approveInBrowser } from '../support/oauth-client.ts';
import { authorizationUrl, exchangeCode, pkce, type RawClient, refresh, tokenRequest } from '../support/oauth-raw.ts';
import { type Running, targets } from '../support/targets.ts';
import { startUpstream, type Upstream } from '../support/upstream.ts';

/**
 * Client metadata documents as the token endpoint sees them, on both runtimes, served by a real
 * HTTP server on loopback that counts what reaches it (plain http on 127.0.0.1 is accepted only
 * because the test servers run with ALLOW_PRIVATE_UPSTREAMS=true). What a stranger could use the
 * token endpoint for: a fetch of any URL per request (outbound traffic at will) and an answer
 * that tells which URLs have something listening (a port scanner). What a real client needs: a
 * refresh that still works while its document is briefly broken.
 */

const KEY = 'sk-cimd-token-0123456789abcdef';
/** Document fetches one address may cause per window (RATE_LIMIT_AUTHORIZE_PAGE). */
const LIMIT = 12;
const CALLBACK = 'https://claude.ai/api/mcp/auth_callback';

for (const target of targets())
  describe(`metadata documents at the token endpoint (${target.name})`, () => {
    let upstream: Upstream;
    let server: Running;
    let endpoint: string;
    let documents: Server;
    let origin: string;
    /** A port nothing listens on: a connection there is refused. */
    let closedPort: number;
    /** What each path answers; unknown paths 404. */
    const answers = new Map<string, (url: string) => { status: number; body: string; type?: string }>();
    const hits: string[] = [];

    before(async () => {
      upstream = await startUpstream({ key: KEY });
      server = await target.start({ RATE_LIMIT_AUTHORIZE_PAGE: `${LIMIT}/600` });
      endpoint = (await mustCreateEndpoint(server, { upstream_url: upstream.url })).mcp_endpoint!;
      documents = createServer((request, response) => {
        hits.push(request.url ?? '');
        const path = new URL(request.url ?? '/', origin).pathname;
        const answer = answers.get(path)?.(`${origin}${request.url}`) ?? { status: 404, body: 'not here' };
        response.writeHead(answer.status, { 'content-type': answer.type ?? 'application/json', 'cache-control': 'no-store' });
        response.end(answer.body);
      });
      await new Promise<void>((resolve) => documents.listen(0, '127.0.0.1', resolve));
      origin = `http://127.0.0.1:${(documents.address() as AddressInfo).port}`;
      const probe = createServer();
      await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
      closedPort = (probe.address() as AddressInfo).port;
      await new Promise((resolve) => probe.close(resolve));
    });
    after(async () => {
      await server?.stop();
      await upstream?.close();
      documents?.closeAllConnections();
      await new Promise((resolve) => documents?.close(resolve));
    });

    const goodDocument = (url: string) => ({
      status: 200,
      body: JSON.stringify({
        client_id: url,
        client_name: 'Claude',
        redirect_uris: [CALLBACK],
        grant_types: ['authorization_code', 'refresh_token'],
        token_endpoint_auth_method: 'none',
      }),
    });
    const hitsOf = (path: string) => hits.filter((hit) => hit === path).length;
    /** A refresh for one of our endpoints (so the document is looked at) that no grant backs. */
    const refreshFor = (clientId: string) =>
      tokenRequest(server, {
        grant_type: 'refresh_token',
        refresh_token: `${new URL(endpoint).pathname.split('/')[1]}:b:c`,
        client_id: clientId,
      });

    test('signed in with a no-store document: while the document is broken, each refresh tries it again and still works', async () => {
      answers.set('/app.json', goodDocument);
      const client: RawClient = { clientId: `${origin}/app.json`, redirectUris: [CALLBACK] };
      const { challenge, verifier } = pkce();
      const code = await approveInBrowser(new Browser(), authorizationUrl(server, endpoint, client, { challenge }), KEY);
      const tokens = await exchangeCode(server, endpoint, client, { code, verifier, redirectUri: CALLBACK });
      assert.equal(tokens.status, 200, JSON.stringify(tokens.body));

      let refreshToken = tokens.body.refresh_token!;
      const broken = [() => ({ status: 503, body: 'deploying', type: 'text/plain' }), () => ({ status: 200, body: '{"client_id": ' })];
      for (const answer of broken) {
        answers.set('/app.json', answer);
        const before = hitsOf('/app.json');
        const refreshed = await refresh(server, client.clientId, refreshToken);
        assert.equal(refreshed.status, 200, JSON.stringify(refreshed.body));
        assert.equal(hitsOf('/app.json') - before, 1, 'the document was fetched again and its failure did not stop the refresh');
        refreshToken = refreshed.body.refresh_token!;
      }
    });

    test('every failure reads the same, whatever answered; one address cannot make the server fetch more than the limit', async () => {
      answers.set('/unauthorized.json', () => ({ status: 401, body: 'who are you', type: 'text/plain' }));
      answers.set('/error.json', () => ({ status: 500, body: 'oops', type: 'text/plain' }));
      answers.set('/html.json', () => ({ status: 200, body: '<html>', type: 'text/html' }));
      answers.set('/other.json', (url) => goodDocument(`${url}/other`));
      const failures = [
        `http://127.0.0.1:${closedPort}/client.json`,
        `${origin}/unauthorized.json`,
        `${origin}/error.json`,
        `${origin}/html.json`,
        `${origin}/other.json`,
      ];
      const descriptions = new Set<string>();
      for (const clientId of failures) {
        const answer = await refreshFor(clientId);
        assert.equal(answer.status, 401, `${clientId}: ${JSON.stringify(answer.body)}`);
        assert.equal(answer.body.error, 'invalid_client');
        descriptions.add(answer.body.error_description!);
      }
      assert.equal(descriptions.size, 1, `one sentence for every failure, got:\n${[...descriptions].join('\n')}`);
      assert.ok(
        ['/unauthorized.json', '/error.json', '/html.json', '/other.json'].every((path) => hitsOf(path) === 1),
        'each was fetched',
      );

      const last = await (async () => {
        let answer: Awaited<ReturnType<typeof refreshFor>> | undefined;
        for (let i = 0; i < 40; i++) answer = await refreshFor(`${origin}/many-${i}.json`);
        return answer!;
      })();
      // Everything this suite made the server fetch from this one address, the refused connection included.
      assert.ok(hits.length + 1 <= LIMIT, `at most ${LIMIT} fetches in the window, got ${hits.length + 1}`);
      assert.equal(last.status, 429, JSON.stringify(last.body));
      assert.equal(last.body.error, 'rate_limited');
    });
  });
