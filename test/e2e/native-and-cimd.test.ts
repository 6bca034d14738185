import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { mustCreateEndpoint } from '../support/api.ts';
import { Browser } from '../support/browser.ts';
import { approveInBrowser } from '../support/oauth-client.ts';
import { authorizationUrl, exchangeCode, obtainCode, pkce, type RawClient, refresh, registerClient } from '../support/oauth-raw.ts';
import { type Running, targets } from '../support/targets.ts';
import { INITIALIZE, post, waitFor } from '../support/transport-helpers.ts';
import { startUpstream, type Upstream } from '../support/upstream.ts';

/**
 * Clients that do not register the usual way, on both runtimes: a native app with a private-use
 * redirect scheme (Cursor), and clients known by a Client ID Metadata Document (Claude-shaped,
 * served from loopback: plain http on a private address is accepted only because the test servers
 * run with ALLOW_PRIVATE_UPSTREAMS=true; a deployment takes https documents on public hosts only).
 */

const KEY = 'sk-native-0123456789abcdef';
const CURSOR_CALLBACK = 'cursor://anysphere.cursor-mcp/oauth/callback';

for (const target of targets())
  describe(`native apps and metadata-document clients (${target.name})`, () => {
    let upstream: Upstream;
    let server: Running;
    let endpoint: string;
    let documents: Server;
    let documentUrl: string;
    let documentFetches = 0;

    before(async () => {
      upstream = await startUpstream({ key: KEY });
      server = await target.start();
      endpoint = (await mustCreateEndpoint(server, { upstream_url: upstream.url })).mcp_endpoint!;
      documents = createServer((_request, response) => {
        documentFetches++;
        response.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
        response.end(
          JSON.stringify({
            client_id: documentUrl,
            client_name: 'Claude',
            client_uri: 'https://claude.ai',
            redirect_uris: ['https://claude.ai/api/mcp/auth_callback'],
            grant_types: ['authorization_code', 'refresh_token'],
            response_types: ['code'],
            token_endpoint_auth_method: 'none',
          }),
        );
      });
      await new Promise<void>((resolve) => documents.listen(0, '127.0.0.1', resolve));
      documentUrl = `http://127.0.0.1:${(documents.address() as AddressInfo).port}/oauth/mcp-oauth-client-metadata`;
    });
    after(async () => {
      await server?.stop();
      await upstream?.close();
      documents?.closeAllConnections();
      await new Promise((resolve) => documents?.close(resolve));
    });

    const initialize = (token: string) => post(endpoint, `Bearer ${token}`, INITIALIZE);

    test('a Cursor-shaped client registers cursor:// beside https and loopback, signs in with cursor://, and reaches the upstream', async () => {
      const client = await registerClient(
        server,
        [CURSOR_CALLBACK, 'https://cursor.com/oauth/callback', 'http://127.0.0.1:8976/callback'],
        'Cursor',
      );
      const issued = await obtainCode(server, endpoint, client, KEY, CURSOR_CALLBACK);
      const tokens = await exchangeCode(server, endpoint, client, issued);
      assert.equal(tokens.status, 200, JSON.stringify(tokens.body));
      const response = await initialize(tokens.body.access_token!);
      assert.equal(response.status, 200);
      await response.body?.cancel();
    });

    test('a Claude-shaped metadata document: the page names its host, the flow and a refresh complete, each step fetched the document', async () => {
      const client: RawClient = { clientId: documentUrl, redirectUris: ['https://claude.ai/api/mcp/auth_callback'] };
      const { challenge, verifier } = pkce();
      const browser = new Browser();
      const url = authorizationUrl(server, endpoint, client, { challenge });
      const page = await browser.get(url);
      assert.equal(page.status, 200, page.text());
      assert.match(page.text(), new RegExp(`Published by ${new URL(documentUrl).host}, which vouches for that name`));
      const fetchesBefore = documentFetches;
      const code = await approveInBrowser(browser, url, KEY);
      const tokens = await exchangeCode(server, endpoint, client, { code, verifier, redirectUri: client.redirectUris[0]! });
      assert.equal(tokens.status, 200, JSON.stringify(tokens.body));
      const response = await initialize(tokens.body.access_token!);
      assert.equal(response.status, 200);
      await response.body?.cancel();
      const refreshed = await refresh(server, documentUrl, tokens.body.refresh_token!);
      assert.equal(refreshed.status, 200, JSON.stringify(refreshed.body));
      assert.ok(documentFetches - fetchesBefore >= 3, 'a no-store document is fetched again at each step');
    });

    test('a document whose client_id is not its URL is refused: the page says it cannot be used, the server log says why', async () => {
      const client: RawClient = { clientId: `${documentUrl}?other`, redirectUris: ['https://claude.ai/api/mcp/auth_callback'] };
      const page = await new Browser().get(authorizationUrl(server, endpoint, client, { challenge: pkce().challenge }));
      assert.equal(page.status, 400);
      // The same sentence for every failure, whatever answered (no port scanning through the page).
      assert.match(page.text(), /cannot be used: it could not be fetched, or is not a valid client metadata document/);
      assert.doesNotMatch(page.text(), /does not match/);
      await waitFor(
        () => /client metadata document refused.*does not match the document's URL/.test(server.output()),
        5000,
        'the reason in the server log',
      );
    });
  });
