import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { createEndpoint, mustCreateEndpoint } from '../support/api.ts';
import { Browser, Page } from '../support/browser.ts';
import { startAuthorization } from '../support/security.ts';
import { freePort } from '../support/server-process.ts';
import { type Running, targets } from '../support/targets.ts';
import { startUpstream, type Upstream } from '../support/upstream.ts';

/**
 * Issue 22's server behaviour on Node and on the Worker (the in-process tier holds the details,
 * test/app/forgiving-server.test.ts): a wrong upstream creates nothing, and the key-guessing
 * limits let a person's mistakes through while still stopping a guesser.
 */
const KEY = 'sk-forgiving-0123456789abcdef';

for (const target of targets())
  describe(`forgiving, and still guarded (${target.name})`, () => {
    let server: Running;
    let upstream: Upstream;
    let website: Server;
    let websiteUrl: string;
    before(async () => {
      upstream = await startUpstream({ key: KEY });
      website = createServer((_req, res) => {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end('<!doctype html><h1>Welcome to our product</h1>');
      });
      await new Promise<void>((resolve) => website.listen(0, '127.0.0.1', resolve));
      websiteUrl = `http://127.0.0.1:${(website.address() as AddressInfo).port}/`;
      server = await target.start({ RATE_LIMIT_AUTHORIZE: '12/600' });
    });
    after(async () => {
      await server?.stop();
      await upstream?.close();
      website?.closeAllConnections();
      await new Promise((resolve) => website?.close(resolve));
    });

    test('a website and a closed port create no endpoint: 422 with the code and the reason', async () => {
      const site = await createEndpoint(server, { upstream_url: websiteUrl });
      assert.equal(site.status, 422, JSON.stringify(site.body));
      assert.equal(site.body.error, 'upstream_not_mcp');
      assert.match(site.body.message!, /answered with a web page, not as an MCP server/);

      const closed = await createEndpoint(server, { upstream_url: `http://127.0.0.1:${await freePort()}/mcp` });
      assert.ok(closed.status === 422 || closed.status === 503, JSON.stringify(closed.body));
      assert.match(closed.body.error!, /^upstream_(unreachable|unavailable)$/);
      assert.match(closed.body.message!, /Nothing was created/);
      assert.equal(site.body.manage_token, undefined);

      const form = await fetch(`${server.url}/`, {
        method: 'POST',
        headers: { 'sec-fetch-site': 'same-origin', origin: 'null' },
        body: new URLSearchParams({ upstream_url: websiteUrl }),
        redirect: 'manual',
      });
      assert.equal(form.status, 422, 'the start page refuses too, with no created page');
      assert.match(await form.text(), /not as an MCP server/);
    });

    test('ten wrong keys, then the right one: approved; past the limit the same sign-in waits, told how long, on its own page', async () => {
      const endpoint = (await mustCreateEndpoint(server, { upstream_url: upstream.url })).mcp_endpoint!;
      const browser = new Browser();
      const url = await startAuthorization(endpoint);
      let page = await browser.get(url);
      for (let i = 0; i < 10; i++) {
        const refused = await browser.submit(page, { api_key: `sk-wrong-${i}` }, { name: 'action', value: 'approve' });
        assert.equal(refused.status, 401, `wrong key ${i}`);
        page = new Page(page.url, refused, await refused.text());
      }
      const approved = await browser.submit(page, { api_key: KEY }, { name: 'action', value: 'approve' });
      assert.equal(approved.status, 302, 'ten mistakes are forgiven');
      assert.ok(new URL(approved.headers.get('location')!).searchParams.get('code'));

      // A guesser: another sign-in, twelve wrong keys (RATE_LIMIT_AUTHORIZE=12/600), then even the right key waits.
      const guesser = new Browser();
      let guess = await guesser.get(await startAuthorization(endpoint));
      for (let i = 0; i < 12; i++) {
        const refused = await guesser.submit(guess, { api_key: `sk-guess-${i}` }, { name: 'action', value: 'approve' });
        assert.equal(refused.status, 401, `guess ${i}`);
        guess = new Page(guess.url, refused, await refused.text());
      }
      const before = upstream.requests.length;
      const stopped = await guesser.submit(guess, { api_key: KEY }, { name: 'action', value: 'approve' });
      const text = await stopped.text();
      assert.equal(stopped.status, 429, text);
      assert.ok(Number(stopped.headers.get('retry-after')) >= 1);
      assert.match(text, /Too many wrong keys were tried in this sign-in; try again in \d+ seconds/);
      assert.match(text, /name="handle"/, 'the consent page itself, ready for when the wait is over');
      assert.equal(upstream.requests.length, before, 'the key was not even checked upstream');
    });

    test('SELF_HOST_NOTICE=off takes the "self-host it" notice off the pages', async () => {
      assert.match(await (await fetch(`${server.url}/`)).text(), /self-host/i, 'shown by default');
      const quiet = await target.start({ SELF_HOST_NOTICE: 'off' });
      try {
        const home = await fetch(`${quiet.url}/`);
        assert.equal(home.status, 200);
        assert.doesNotMatch(await home.text(), /self-host/i);
      } finally {
        await quiet.stop();
      }
    });
  });
