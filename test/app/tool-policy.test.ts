import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { parse } from 'node-html-parser';
import { CookieJar, type InProcess, KEY, startApp } from '../support/in-process.ts';

/**
 * The endpoint creator's tool ceiling (docs/tools-and-activity.md) on the manage page and in the
 * JSON API: set, shown, checked, lifted. Its effect on every access is test/e2e/tool-choice.test.ts's.
 */

const SAME_ORIGIN = { 'sec-fetch-site': 'same-origin', origin: 'null', accept: 'text/html' };

describe('the tool ceiling, in-process', () => {
  let k: InProcess;
  before(async () => {
    k = await startApp({ env: { RATE_LIMIT_MANAGE: '0' } });
    // A legacy server as creation meets it without a key: it wants one (upstream/detect.ts).
    k.upstreams.serve('https://legacy.example.com', () => new Response('key required', { status: 401 }));
  });
  after(() => k.close());

  test('the manage page sets it from its form, shows it, and lifts it; the API shows the same', async () => {
    const created = await k.mustCreateEndpoint({ upstream_url: 'https://echo.example.com/mcp' });
    const path = `/manage/${created.slug}`;
    const jar = new CookieJar();
    const post = (fields: Record<string, string>) =>
      k.fetch(path, {
        method: 'POST',
        headers: { ...jar.header(), ...SAME_ORIGIN },
        body: new URLSearchParams(fields),
        redirect: 'manual',
      });
    jar.keep(await post({ action: 'open', token: created.manage_token! }));
    const api = async () =>
      (
        (await (await k.fetch(`/api/slugs/${created.slug}`, { headers: { authorization: `Bearer ${created.manage_token}` } })).json()) as {
          tool_policy: unknown;
        }
      ).tool_policy;
    assert.equal(await api(), null);

    const saved = await post({ action: 'tool-policy', tool_allow: 'search_*\nget_*', tool_deny: 'search_secrets, delete_*' });
    assert.equal(saved.status, 303);
    assert.deepEqual(await api(), { allow: ['search_*', 'get_*'], deny: ['search_secrets', 'delete_*'] });
    const shown = parse(await (await k.fetch(path, { headers: { ...jar.header(), accept: 'text/html' } })).text());
    assert.equal(shown.querySelector('textarea[name="tool_allow"]')?.text, 'search_*\nget_*');
    assert.equal(shown.querySelector('textarea[name="tool_deny"]')?.text, 'search_secrets\ndelete_*');

    const tooLong = await post({ action: 'tool-policy', tool_allow: 'x'.repeat(200), tool_deny: '' });
    assert.equal(tooLong.status, 400);
    assert.match(parse(await tooLong.text()).text, /at most 128 characters/);

    assert.equal((await post({ action: 'tool-policy', tool_allow: '', tool_deny: '' })).status, 303);
    assert.equal(await api(), null);
  });

  test('PATCH /api/slugs/:slug takes tool_policy, refuses a malformed one with a sentence', async () => {
    const created = await k.mustCreateEndpoint({ upstream_url: 'https://echo.example.com/mcp' });
    const patch = (body: unknown) =>
      k.fetch(`/api/slugs/${created.slug}`, {
        method: 'PATCH',
        headers: { authorization: `Bearer ${created.manage_token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    for (const bad of [{ allow: 'search_*' }, { allow: [''] }, { other: [] }, { deny: [1] }]) {
      const answer = await patch({ tool_policy: bad });
      assert.equal(answer.status, 400, JSON.stringify(bad));
      assert.equal(((await answer.json()) as { error: string }).error, 'invalid_request');
    }
    const legacy = await k.mustCreateEndpoint({ upstream_url: 'https://legacy.example.com/sse', transport: 'sse' });
    const onLegacy = await k.fetch(`/api/slugs/${legacy.slug}`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${legacy.manage_token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ tool_policy: { deny: ['x'] } }),
    });
    assert.equal(onLegacy.status, 400);
    assert.match(((await onLegacy.json()) as { message: string }).message, /Streamable HTTP/);
    const ok = await patch({ tool_policy: { allow: ['search_*'], deny: ['delete_*'] } });
    assert.equal(ok.status, 200);
    const body = (await ok.json()) as { tool_policy: unknown; revoked_grants: number };
    assert.deepEqual(body.tool_policy, { allow: ['search_*'], deny: ['delete_*'] });
    assert.equal(body.revoked_grants, 0, 'a ceiling revokes nothing: it narrows');
  });

  test('a legacy HTTP+SSE endpoint offers no tool choice at consent and refuses one sent anyway', async () => {
    const legacy = await k.mustCreateEndpoint({ upstream_url: 'https://legacy.example.com/sse', transport: 'sse' });
    const client = await k.register();
    const page = await k.openConsent(legacy.mcp_endpoint!, client);
    assert.equal(page.status, 200);
    assert.doesNotMatch(page.html, /name="tools"/);
    const sent = await k.submitConsent(page, { action: 'approve', api_key: KEY, tools: 'read_only' });
    assert.equal(sent.status, 400);
    assert.match(await sent.text(), /legacy transport, where access can only be to all tools/);
  });
});
