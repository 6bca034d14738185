import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { parse } from 'node-html-parser';
import { INITIALIZE, type InProcess, KEY, readRpc, startApp } from '../support/in-process.ts';

/**
 * Native apps (RFC 8252 §7.1) sign in through a private-use URI scheme. Cursor registers
 * `cursor://anysphere.cursor-mcp/oauth/callback` beside an https and a loopback callback and
 * authorizes with the `cursor://` one (docs/architecture.md, "What real clients do").
 */

const CURSOR_CALLBACK = 'cursor://anysphere.cursor-mcp/oauth/callback';

describe('native apps with a private-use redirect scheme, in-process', () => {
  let k: InProcess;
  let endpoint: string;
  before(async () => {
    k = await startApp();
    endpoint = (await k.mustCreateEndpoint()).mcp_endpoint!;
  });
  after(() => k.close());

  test('a Cursor-shaped client registers cursor:// beside https and loopback, authorizes with cursor://, and calls the upstream', async () => {
    const client = await k.register({
      client_name: 'Cursor',
      redirect_uris: [CURSOR_CALLBACK, 'https://cursor.com/oauth/callback', 'http://127.0.0.1:8976/callback'],
    });
    const page = await k.openConsent(endpoint, client);
    assert.equal(page.status, 200, page.text);
    const notice = parse(page.html).querySelector('.app-scheme')?.text.replace(/\s+/g, ' ');
    assert.match(notice ?? '', /cursor:/, 'the page names the app scheme the code goes to');
    assert.match(page.text, /app on your computer that handles cursor: links/);
    assert.match(page.response.headers.get('content-security-policy') ?? '', /form-action 'self' cursor:(;|$)/);

    const approved = await k.submitConsent(page, { api_key: KEY, action: 'approve' });
    assert.equal(approved.status, 302);
    const location = new URL(approved.headers.get('location')!);
    assert.equal(`${location.protocol}//${location.host}${location.pathname}`, CURSOR_CALLBACK);
    const exchanged = await k.token({
      grant_type: 'authorization_code',
      code: location.searchParams.get('code')!,
      code_verifier: client.verifier,
      client_id: client.client_id,
      redirect_uri: CURSOR_CALLBACK,
      resource: endpoint,
    });
    assert.equal(exchanged.status, 200);
    const { access_token } = (await exchanged.json()) as { access_token: string };
    const initialized = await readRpc(await k.mcp(endpoint, access_token, INITIALIZE));
    assert.ok(initialized.result?.serverInfo, 'the token reaches the upstream');
  });

  test('an app:// style callback on its own is accepted too', async () => {
    const client = await k.register({ redirect_uris: ['com.example.notes:/oauth2redirect'] });
    const page = await k.openConsent(endpoint, client);
    assert.equal(page.status, 200, page.text);
    assert.match(page.text, /handles com\.example\.notes: links/);
  });

  for (const uri of [
    'javascript:alert(1)//x',
    'data:text/html,hi',
    'file:///etc/passwd',
    'vbscript:msgbox',
    'blob:https://bridge.example.org/x',
    'about:blank',
    'ftp://files.example.com/cb',
    'ws://127.0.0.1/cb',
    'chrome://settings',
  ]) {
    test(`registering only ${uri.split(':')[0]}: is refused`, async () => {
      const response = await k.fetch('/oauth/register', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ client_name: 'x', redirect_uris: [uri], token_endpoint_auth_method: 'none' }),
      });
      assert.equal(response.status, 400);
      const body = (await response.json()) as { error: string; error_description: string };
      assert.equal(body.error, 'invalid_redirect_uri');
      assert.match(body.error_description, /redirect/i);
    });
  }

  test('a dangerous scheme listed beside a good one is refused as well', async () => {
    const response = await k.fetch('/oauth/register', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ redirect_uris: [CURSOR_CALLBACK, 'javascript:alert(1)'], token_endpoint_auth_method: 'none' }),
    });
    assert.equal(response.status, 400);
  });

  test('remote http stays refused at authorization', async () => {
    const client = await k.register({ redirect_uris: ['https://client.example.net/cb', 'http://client.example.net/cb'] });
    const page = await k.openConsent(endpoint, client, { params: { redirect_uri: 'http://client.example.net/cb' } });
    assert.equal(page.status, 400);
    assert.match(page.text, /Invalid redirect URI/);
  });
});
