import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type InProcess, startApp } from '../support/in-process.ts';
import { switchableStorage } from '../support/switchable-storage.ts';

/**
 * One family of error pages for people, the JSON kept for programs: the same URL answers a browser
 * (`Accept: text/html`, no token) with a page that says what happened and where to go, and an API or
 * MCP client with exactly the JSON it always got.
 */

const BROWSER = { accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' };

describe('error pages for browsers, JSON for programs', () => {
  let k: InProcess;
  const { kv, counters, state } = switchableStorage();
  before(async () => {
    k = await startApp({ platform: { kv, counters } });
  });
  after(() => k.close());

  async function page(path: string, headers: Record<string, string> = BROWSER) {
    const response = await k.fetch(path, { headers });
    return { status: response.status, headers: response.headers, body: await response.text() };
  }

  test('an unknown path: a page with the way back for a browser, the same JSON as before for a program', async () => {
    const html = await page('/no/such/page');
    assert.equal(html.status, 404);
    assert.match(html.headers.get('content-type')!, /^text\/html/);
    assert.match(html.body, /<h1>Page not found<\/h1>/);
    assert.match(html.body, /<a href="\/">Back to the start page<\/a>/);
    assert.match(html.headers.get('content-security-policy')!, /style-src 'self'/);

    for (const headers of [{}, { accept: 'application/json' }, { accept: '*/*' }] as Record<string, string>[]) {
      const json = await page('/no/such/page', headers);
      assert.equal(json.status, 404);
      assert.deepEqual(JSON.parse(json.body), { error: 'not_found', error_description: 'Not found', message: 'Not found' });
    }
  });

  test('a mistyped endpoint URL: a page that says how an endpoint URL looks; MCP clients keep their JSON', async () => {
    for (const path of [`/${'x'.repeat(12)}/mcp`, '/not-a-slug/mcp']) {
      const html = await page(path);
      assert.equal(html.status, 404, path);
      assert.match(html.body, /No endpoint at this address/);
      assert.match(html.body, /compare it letter by letter/);
      // A page of ours, so its own CSP, not the sandbox an upstream's answer gets.
      assert.doesNotMatch(html.headers.get('content-security-policy')!, /sandbox/);
      assert.match(html.headers.get('content-security-policy')!, /style-src 'self'/);
    }
    const json = await page('/not-a-slug/mcp', { accept: 'application/json, text/event-stream' });
    assert.equal(json.status, 404);
    assert.equal(JSON.parse(json.body).error, 'not_found');
    const stream = await page('/not-a-slug/mcp', { accept: 'text/event-stream' });
    assert.equal(JSON.parse(stream.body).error, 'not_found');
  });

  test('the endpoint URL opened in a browser loads its own stylesheet and script', async () => {
    const created = await k.mustCreateEndpoint();
    const html = await page(new URL(created.mcp_endpoint!).pathname);
    assert.equal(html.status, 200);
    assert.match(html.body, /This is an MCP endpoint/);
    const csp = html.headers.get('content-security-policy')!;
    assert.doesNotMatch(csp, /sandbox/);
    assert.match(csp, /style-src 'self'; script-src 'self'/);
  });

  test('a store outage: a page with Retry-After and a way to try again; programs keep the 503 JSON', async () => {
    state.down = true;
    try {
      const html = await page('/manage/abcdefghijkl?x=1&y=2');
      assert.equal(html.status, 503);
      assert.equal(html.headers.get('retry-after') !== null, true);
      assert.match(html.body, /Temporarily unavailable/);
      assert.match(html.body, /href="\/manage\/abcdefghijkl\?x=1&amp;y=2">Try again/);
      const json = await page('/api/slugs/abcdefghijkl', { accept: 'application/json' });
      assert.equal(json.status, 503);
      assert.equal(JSON.parse(json.body).error, 'temporarily_unavailable');
    } finally {
      state.down = false;
    }
  });
});
