import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { parse } from 'node-html-parser';
import { type InProcess, KEY, startApp } from '../support/in-process.ts';
import { serveMcp } from '../support/in-process-upstream.ts';

/**
 * The consent page cannot be made to lie: the destination host is the heading, the creator's
 * display name is labelled as theirs and may not pose as another host, international host names
 * are shown in punycode (with a warning when they mix scripts), and the endpoint's age is shown.
 */

describe('a consent page that cannot lie, in-process', () => {
  let k: InProcess;
  before(async () => {
    k = await startApp();
  });
  after(() => k.close());

  test('display names that look like another host or a URL are refused at creation and on change', async () => {
    for (const name of [
      'GitHub (api.github.com)',
      'https://evil.example',
      'api．github．com',
      'Login at accounts.google.com',
      'mail.example.org',
      '93.184.216.34',
    ]) {
      const created = await k.createEndpoint({ upstream_url: 'https://echo.example.com/mcp', display_name: name });
      assert.equal(created.status, 400, name);
      assert.match(created.body.message!, /display_name .*looks like a web address/, name);
    }
    for (const name of ['Echo server', 'Echo (echo.example.com)', 'ECHO.EXAMPLE.COM', 'Tools v1.2', 'My MCP: notes & docs']) {
      const created = await k.createEndpoint({ upstream_url: 'https://echo.example.com/mcp', display_name: name });
      assert.equal(created.status, 201, `${name}: ${JSON.stringify(created.body)}`);
    }
    const { slug, manage_token } = await k.mustCreateEndpoint({ upstream_url: 'https://echo.example.com/mcp', display_name: 'Echo' });
    const patched = await k.fetch(`/api/slugs/${slug}`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${manage_token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ display_name: 'GitHub (api.github.com)' }),
    });
    assert.equal(patched.status, 400);
    assert.match(((await patched.json()) as { message: string }).message, /looks like a web address/);
  });

  test('the heading names the app; where the key goes stands out; the display name is labelled as the creator’s choice; the age is shown', async () => {
    const { mcp_endpoint } = await k.mustCreateEndpoint({
      upstream_url: 'https://echo.example.com/mcp',
      display_name: 'Totally Official Tools',
    });
    const page = await k.openConsent(mcp_endpoint!, await k.register());
    assert.equal(page.status, 200);
    const root = parse(page.html);
    const heading = root.querySelector('h1')!.text.replace(/\s+/g, ' ');
    assert.equal(heading, 'In-process Client wants to use your key');
    assert.doesNotMatch(heading, /Totally Official/, 'the creator-chosen name is not the heading');
    assert.equal(root.querySelector('.destination .host')?.text, 'echo.example.com');
    assert.match(page.text, /Totally Official Tools · a name chosen by whoever created this endpoint, not checked by anyone/);
    assert.match(page.text, /created less than a minute ago/);
  });

  test('an international host is shown in punycode, with a warning when it mixes scripts', async () => {
    // "аpple.com" with a Cyrillic а: a homograph of apple.com.
    const url = 'https://xn--pple-43d.com/mcp';
    serveMcp(k.upstreams, { url, key: KEY });
    const { mcp_endpoint } = await k.mustCreateEndpoint({ upstream_url: url, transport: 'streamable-http' });
    const page = await k.openConsent(mcp_endpoint!, await k.register());
    const root = parse(page.html);
    assert.equal(root.querySelector('.destination .host')?.text, 'xn--pple-43d.com');
    assert.match(root.querySelector('.warning.idn')?.text ?? '', /mixes Latin and Cyrillic/);
    const approved = await k.submitConsent(page, { api_key: KEY, action: 'approve' });
    assert.equal(approved.status, 302, 'the warning informs; it does not block');

    const plain = 'https://xn--bcher-kva.com/mcp'; // bücher.com: one script
    serveMcp(k.upstreams, { url: plain, key: KEY });
    const single = await k.mustCreateEndpoint({ upstream_url: plain, transport: 'streamable-http' });
    const other = parse((await k.openConsent(single.mcp_endpoint!, await k.register())).html);
    assert.equal(other.querySelector('.destination .host')?.text, 'xn--bcher-kva.com');
    assert.match(other.text, /bücher\.com/);
    assert.equal(other.querySelector('.warning.idn'), null);
  });
});
