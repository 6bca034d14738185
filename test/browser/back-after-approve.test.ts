import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { haveChromium, launchChromium } from '../support/chromium.ts';
import { nodeTarget, type Running } from '../support/targets.ts';
import { startUpstream, type Upstream } from '../support/upstream.ts';

const KEY = 'sk-back-after-approve-42';
const CALLBACK = 'https://claude.ai/api/mcp/auth_callback';

/**
 * Back after Approve, as Chromium does it (issue 22): the browser shows the consent page again, and
 * approving it again must issue nothing. Chromium decides what Back does (a no-store page is
 * fetched again; a form is never resubmitted silently), so no HTTP client stands in for it here.
 */
describe('Back after Approve in real Chromium', { skip: !haveChromium && 'Chromium not installed (apt-get install chromium)' }, () => {
  let upstream: Upstream;
  let server: Running;
  let browser: Browser;

  before(async () => {
    upstream = await startUpstream({ key: KEY });
    server = await nodeTarget.start();
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
    await upstream?.close();
  });

  test('Back shows "already approved" with no Approve button; the app is listed once', async () => {
    const created = (await (
      await fetch(`${server.url}/api/slugs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ upstream_url: upstream.url }),
      })
    ).json()) as { slug: string; mcp_endpoint: string; manage_token: string };
    const registration = (await (
      await fetch(`${server.url}/oauth/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ client_name: 'Claude', redirect_uris: [CALLBACK], token_endpoint_auth_method: 'none' }),
      })
    ).json()) as { client_id: string };
    const verifier = 'v'.repeat(43) + 'W'.repeat(20);
    const challenge = Buffer.from(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier))).toString('base64url');
    const authorize = new URL('/authorize', server.url);
    for (const [name, value] of Object.entries({
      response_type: 'code',
      client_id: registration.client_id,
      redirect_uri: CALLBACK,
      state: 'back-after-approve',
      code_challenge: challenge,
      code_challenge_method: 'S256',
      scope: 'mcp offline_access',
      resource: created.mcp_endpoint,
    }))
      authorize.searchParams.set(name, value);

    const page = await browser.newPage();
    const codes: string[] = [];
    await page.route('https://claude.ai/**', async (route) => {
      codes.push(new URL(route.request().url()).searchParams.get('code') ?? '');
      await route.fulfill({ status: 200, contentType: 'text/html', body: '<title>Claude</title><p>back at the client' });
    });
    await page.goto(authorize.href);
    await page.fill('input[name=api_key]', KEY);
    await page.click('button[value=approve]');
    await page.waitForURL((url) => url.hostname === 'claude.ai');
    assert.equal(codes.length, 1);

    // The app takes its code, as Claude does at once.
    const exchanged = await fetch(`${server.url}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code: codes[0]!,
        code_verifier: verifier,
        client_id: registration.client_id,
        redirect_uri: CALLBACK,
        resource: created.mcp_endpoint,
      }),
    });
    assert.equal(exchanged.status, 200);

    await page.goBack();
    await page.waitForSelector('h1');
    assert.match(await page.locator('main').innerText(), /already approved/i);
    assert.match(await page.locator('main').innerText(), /Claude/);
    assert.equal(await page.locator('button[value=approve]').count(), 0, 'nothing to approve again');

    // Reload is the same; and the app was listed once.
    await page.reload();
    assert.match(await page.locator('main').innerText(), /already approved/i);
    const grants = (await (
      await fetch(`${server.url}/api/slugs/${created.slug}/grants`, { headers: { authorization: `Bearer ${created.manage_token}` } })
    ).json()) as { grants: { client_name: string }[] };
    assert.deepEqual(
      grants.grants.map((grant) => grant.client_name),
      ['Claude'],
    );
    assert.equal(codes.length, 1, 'no second code reached the app');
    await page.close();
  });
});
