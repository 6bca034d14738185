import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { parse } from 'node-html-parser';
import { postForm } from '../../src/cli/oauth-client.ts';
import { type Client, type InProcess, KEY, PUBLIC_URL, startApp, UPSTREAM_URL } from '../support/in-process.ts';
import { serveMcp } from '../support/in-process-upstream.ts';

/**
 * What the server does so that mistakes are forgiven (issue 22): the key-guessing limits count
 * wrong keys only, a consent form approves once, pending grants are not apps, revocation names the
 * apps, inputs are refused with the reason, and the operator's settings say what they do.
 */

const SAME_ORIGIN = { 'sec-fetch-site': 'same-origin', origin: 'null', accept: 'text/html' };

async function wrongKeyThenAgain(k: InProcess, endpoint: string, client: Client, wrong: number) {
  let page = await k.openConsent(endpoint, client);
  for (let i = 0; i < wrong; i++) {
    const refused = await k.submitConsent(page, { api_key: `sk-wrong-${i}`, action: 'approve' });
    page = { ...page, ...(await pageOf(refused)) };
  }
  return page;
}

/** The consent page a refusal came back to (submitConsent followed the 303), as openConsent reads one. */
async function pageOf(response: Response) {
  const html = await response.text();
  const root = parse(html);
  const hidden: Record<string, string> = {};
  for (const input of root.querySelectorAll('form[method="post"] input[type="hidden"]'))
    hidden[input.getAttribute('name')!] = input.getAttribute('value') ?? '';
  return { status: response.status, html, hidden, text: root.querySelector('main')?.text.replace(/\s+/g, ' ').trim() ?? '' };
}

describe('the key-guessing limits forgive mistakes and still stop guessing, in-process', () => {
  test('ten wrong keys over a few minutes, then the right key: approved', async () => {
    const k = await startApp();
    try {
      const endpoint = (await k.mustCreateEndpoint()).mcp_endpoint!;
      const page = await wrongKeyThenAgain(k, endpoint, await k.register(), 10);
      assert.equal(page.status, 401, 'the tenth wrong key is refused as wrong, not as too many');
      const approved = await k.submitConsent(page, { api_key: KEY, action: 'approve' });
      assert.equal(approved.status, 302, await approved.clone().text());
    } finally {
      await k.close();
    }
  });

  test('successes do not count: fifteen people behind one address each authorize', async () => {
    const k = await startApp();
    try {
      const endpoint = (await k.mustCreateEndpoint()).mcp_endpoint!;
      for (let i = 0; i < 15; i++) await k.authorize(endpoint);
    } finally {
      await k.close();
    }
  });

  test('brute force is stopped: per authorization request, per address across requests, per endpoint across addresses', async () => {
    const k = await startApp({
      env: { RATE_LIMIT_AUTHORIZE: '5/600', RATE_LIMIT_AUTHORIZE_ADDRESS: '12/600', RATE_LIMIT_AUTHORIZE_ENDPOINT: '20/600' },
    });
    try {
      const endpoint = (await k.mustCreateEndpoint()).mcp_endpoint!;
      // One authorization request: five wrong keys, then even the right one is refused, on the same page.
      const page = await wrongKeyThenAgain(k, endpoint, await k.register(), 5);
      const stopped = await postForm(k.fetch, page.url, page.jar, { ...page.hidden, api_key: KEY, action: 'approve' });
      assert.equal(stopped.status, 303, 'back to the consent page, not to the start page');
      const back = new URL(stopped.headers.get('location')!, PUBLIC_URL);
      assert.equal(back.pathname, '/authorize');
      assert.equal(back.searchParams.get('code_challenge'), new URL(page.url).searchParams.get('code_challenge'), 'the same request');
      const shown = await k.openAuthorization(back, page.jar);
      assert.equal(shown.status, 429);
      assert.ok(Number(shown.response.headers.get('retry-after')) >= 1);
      assert.match(shown.text, /Too many wrong keys[^.]*; try again in \d+ (seconds|minutes)/);

      // Fresh requests from the same address: the address's ceiling (12) stops them.
      const second = await wrongKeyThenAgain(k, endpoint, await k.register(), 5);
      const third = await wrongKeyThenAgain(k, endpoint, await k.register(), 2);
      assert.equal(third.status, 401);
      const fourth = await k.openConsent(endpoint, await k.register());
      const ceiling = await k.submitConsent(fourth, { api_key: KEY, action: 'approve' });
      assert.equal(ceiling.status, 429, 'twelve wrong keys from one address: the right key waits too');
      assert.equal(second.status, 401, 'each of them was refused as a wrong key until then');

      // Other addresses on the same endpoint: twenty wrong keys in all, then the endpoint waits.
      for (let i = 0; i < 8; i++) {
        const clientAddress = `203.0.113.${i + 1}`;
        const other = await k.openConsent(endpoint, await k.register());
        const wrong = await postForm((path, init) => k.fetch(path, { ...init, clientAddress }), other.url, other.jar, {
          ...other.hidden,
          api_key: 'sk-guess',
          action: 'approve',
        });
        assert.equal(wrong.status, 303);
      }
      const anyone = await k.openConsent(endpoint, await k.register());
      const endpointStopped = await postForm(
        (path, init) => k.fetch(path, { ...init, clientAddress: '198.51.100.200' }),
        anyone.url,
        anyone.jar,
        { ...anyone.hidden, api_key: KEY, action: 'approve' },
      );
      const shownTo = await k.openAuthorization(new URL(endpointStopped.headers.get('location')!, PUBLIC_URL), anyone.jar);
      assert.equal(shownTo.status, 429);
      assert.match(shownTo.text, /on this endpoint/);
    } finally {
      await k.close();
    }
  });

  test('the "too many pages" refusal links back to the same authorization URL, not the start page', async () => {
    const k = await startApp({ env: { RATE_LIMIT_AUTHORIZE_PAGE: '1/600' } });
    try {
      const endpoint = (await k.mustCreateEndpoint()).mcp_endpoint!;
      const client = await k.register();
      const first = await k.openConsent(endpoint, client);
      const page = await k.openConsent(endpoint, client);
      assert.equal(page.status, 429);
      const links = parse(page.html)
        .querySelectorAll('main a')
        .map((a) => a.getAttribute('href') ?? '');
      const same = new URL(first.url);
      assert.ok(links.includes(same.pathname + same.search), `a link back to the authorization URL among ${links.join(', ')}`);
      assert.ok(!links.includes('/'), 'not the start page');
      assert.match(page.text, /try again in \d+ (seconds|minutes)/);
    } finally {
      await k.close();
    }
  });
});

describe('a consent form approves once, in-process', () => {
  let k: InProcess;
  before(async () => {
    k = await startApp();
  });
  after(() => k.close());

  test('Back after Approve (the same authorization URL again, or the old form again) approves nothing more', async () => {
    const created = await k.mustCreateEndpoint();
    const endpoint = created.mcp_endpoint!;
    const client = await k.register({ client_name: 'Claude' });
    const page = await k.openConsent(endpoint, client);
    // A second tab on the same request, opened before approving.
    const tab = await k.openConsent(endpoint, client);
    const approved = await k.submitConsent(page, { api_key: KEY, action: 'approve' });
    assert.equal(approved.status, 302);
    const code = new URL(approved.headers.get('location')!).searchParams.get('code')!;

    // Back: the browser shows the page again (a GET of the same URL).
    const again = await k.openAuthorization(page.url, page.jar);
    assert.match(again.text, /already approved/i);
    assert.match(again.text, /Claude/);
    assert.equal(parse(again.html).querySelector('form[method="post"] button[value="approve"]'), null, 'no second Approve');

    // Or the old form resubmitted (a cached page): refused the same way, nothing issued.
    const resubmitted = await k.submitConsent(page, { api_key: KEY, action: 'approve' });
    assert.notEqual(resubmitted.status, 302);
    assert.match(parse(await resubmitted.text()).text, /already approved/i);

    // The second tab's own form, with its unused handle: approves nothing either.
    const other = await k.submitConsent(tab, { api_key: KEY, action: 'approve' });
    assert.notEqual(other.status, 302);
    assert.match(parse(await other.text()).text, /already approved/i);

    const exchanged = await k.token({
      grant_type: 'authorization_code',
      code,
      redirect_uri: client.redirect_uris[0]!,
      client_id: client.client_id,
      code_verifier: client.verifier,
      resource: endpoint,
      ...(client.client_secret ? { client_secret: client.client_secret } : {}),
    });
    assert.equal(exchanged.status, 200);
    const grants = await k.fetch(`/api/slugs/${created.slug}/grants`, { headers: { authorization: `Bearer ${created.manage_token}` } });
    assert.equal(((await grants.json()) as { grants: unknown[] }).grants.length, 1, 'one app, listed once');
  });
});

describe('grants whose code was never exchanged are not apps, in-process', () => {
  let k: InProcess;
  before(async () => {
    k = await startApp();
  });
  after(() => k.close());

  test('approved but never exchanged: not on the manage page, the grants API or /access; exchanged: listed', async () => {
    const created = await k.mustCreateEndpoint();
    const endpoint = created.mcp_endpoint!;
    const pending = await k.openConsent(endpoint, await k.register({ client_name: 'Abandoned App' }));
    assert.equal((await k.submitConsent(pending, { api_key: KEY, action: 'approve' })).status, 302);

    const api = async () =>
      (
        (await (
          await k.fetch(`/api/slugs/${created.slug}/grants`, { headers: { authorization: `Bearer ${created.manage_token}` } })
        ).json()) as {
          grants: { client_name: string }[];
        }
      ).grants.map((grant) => grant.client_name);
    assert.deepEqual(await api(), []);
    const access = await k.fetch('/api/access', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ endpoint, credentials: [KEY] }),
    });
    assert.equal(access.status, 403, 'no access with this key yet');

    await k.authorize(endpoint, { client: await k.register({ client_name: 'Real App' }) });
    assert.deepEqual(await api(), ['Real App']);
  });
});

describe('revoking names the apps, in-process', () => {
  let k: InProcess;
  before(async () => {
    k = await startApp();
  });
  after(() => k.close());

  test('/access "Revoke all" says which apps lost access; the API lists them too', async () => {
    const endpoint = (await k.mustCreateEndpoint()).mcp_endpoint!;
    await k.authorize(endpoint, { client: await k.register({ client_name: 'Claude' }) });
    await k.authorize(endpoint, { client: await k.register({ client_name: 'Cursor' }) });
    const found = await k.fetch('/access', {
      method: 'POST',
      headers: SAME_ORIGIN,
      body: new URLSearchParams({ action: 'find', endpoint, credential_0: KEY }),
    });
    assert.equal(found.status, 303);
    const cookie = (found.headers.get('set-cookie') ?? '').split(';')[0]!;
    const revoked = await k.fetch('/access', {
      method: 'POST',
      headers: { ...SAME_ORIGIN, cookie },
      body: new URLSearchParams({ action: 'revoke-all', confirm: 'yes' }),
    });
    assert.equal(revoked.status, 303);
    const shown = parse(await (await k.fetch('/access', { headers: { cookie } })).text());
    assert.match(shown.querySelector('[role="status"]')?.text ?? '', /Done: revoked (Claude and Cursor|Cursor and Claude)/);

    await k.authorize(endpoint, { client: await k.register({ client_name: 'Zed' }) });
    const api = await k.fetch('/api/access/revoke', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ endpoint, credentials: [KEY] }),
    });
    assert.deepEqual(await api.json(), { revoked: 1, revoked_apps: ['Zed'] });
  });
});

describe('inputs are refused with the reason, never cut, in-process', () => {
  let k: InProcess;
  before(async () => {
    k = await startApp();
  });
  after(() => k.close());

  const post = (fields: Record<string, string>) =>
    k.fetch('/', { method: 'POST', headers: SAME_ORIGIN, body: new URLSearchParams({ upstream_url: UPSTREAM_URL, ...fields }) });

  test('a bad header name names the field by its label; the Advanced section stays open with what was typed', async () => {
    const refused = await post({ auth_header_name: 'X API Key', auth_header_prefix: 'Token' });
    assert.equal(refused.status, 400);
    const page = parse(await refused.text());
    const error = page.querySelector('[role="alert"]')?.text ?? '';
    assert.match(error, /^Header name /);
    assert.doesNotMatch(error, /auth_header_name/);
    assert.ok(page.querySelector('details')?.hasAttribute('open'), 'Advanced is open');
    assert.equal(page.querySelector('input[name="auth_header_name"]')?.getAttribute('value'), 'X API Key');
    assert.equal(page.querySelector('input[name="auth_header_prefix"]')?.getAttribute('value'), 'Token');
  });

  test('a 300-character name and a 3,000-character URL are refused with the reason, by label, and kept in the form', async () => {
    const name = 'n'.repeat(300);
    const refusedName = await post({ display_name: name });
    assert.equal(refusedName.status, 400);
    const namePage = parse(await refusedName.text());
    assert.match(namePage.querySelector('[role="alert"]')?.text ?? '', /^Display name .*at most 100 characters/);
    assert.equal(namePage.querySelector('input[name="display_name"]')?.getAttribute('value'), name, 'kept whole, not cut');

    const url = `${UPSTREAM_URL}?q=${'a'.repeat(3000)}`;
    const refusedUrl = await post({ upstream_url: url });
    assert.equal(refusedUrl.status, 400);
    assert.match(
      parse(await refusedUrl.text()).querySelector('[role="alert"]')?.text ?? '',
      /^Upstream MCP server URL .*at most 2048 characters/,
    );
    assert.equal((await k.createEndpoint({ upstream_url: url })).status, 400);
    assert.equal((await k.createEndpoint({ upstream_url: UPSTREAM_URL, display_name: name })).status, 400);
  });

  test('no field on the start page cuts what is pasted: the browser refuses past the server’s limit instead', async () => {
    const home = parse(await (await k.fetch('/')).text());
    const limits: Record<string, number> = { upstream_url: 2048, display_name: 100, auth_header_name: 64, auth_header_prefix: 64 };
    for (const [name, limit] of Object.entries(limits)) {
      const input = home.querySelector(`input[name="${name}"]`)!;
      assert.equal(input.getAttribute('maxlength'), undefined, `${name} has no maxlength, which cuts a paste silently`);
      assert.equal(input.getAttribute('pattern'), `.{0,${limit}}`, `${name} refuses more than the server's ${limit}`);
      assert.match(input.getAttribute('title') ?? '', new RegExp(`at most ${limit} characters`, 'i'));
    }
  });
});

describe('what the operator sets, in-process', () => {
  test('ALLOW_PRIVATE_UPSTREAMS=true with an https PUBLIC_URL warns at start, saying why', async () => {
    const k = await startApp({ env: { ALLOW_PRIVATE_UPSTREAMS: 'true' } });
    try {
      const warning = k.logs.map((line) => JSON.parse(line) as { level: string; msg: string }).find((line) => line.level === 'warn');
      assert.match(warning?.msg ?? '', /ALLOW_PRIVATE_UPSTREAMS=true/);
      assert.match(warning?.msg ?? '', /private|internal/);
    } finally {
      await k.close();
    }
    const quiet = await startApp();
    try {
      assert.ok(!quiet.logs.some((line) => line.includes('ALLOW_PRIVATE_UPSTREAMS')));
    } finally {
      await quiet.close();
    }
  });

  test('SELF_HOST_NOTICE=off removes the "self-host it" notice from every page that has it', async () => {
    const shown = await startApp();
    const hidden = await startApp({ env: { SELF_HOST_NOTICE: 'off' } });
    try {
      assert.match(await (await shown.fetch('/')).text(), /self-host/i);
      assert.doesNotMatch(await (await hidden.fetch('/')).text(), /self-host/i);
      const endpoint = (await hidden.mustCreateEndpoint()).mcp_endpoint!;
      const consent = await hidden.openConsent(endpoint, await hidden.register());
      assert.equal(consent.status, 200);
      assert.doesNotMatch(consent.html, /self-host/i);
      const posted = await hidden.fetch('/', {
        method: 'POST',
        headers: SAME_ORIGIN,
        body: new URLSearchParams({ upstream_url: UPSTREAM_URL }),
      });
      assert.doesNotMatch(await (await hidden.fetch(posted.headers.get('location')!)).text(), /self-host/i);
    } finally {
      await shown.close();
      await hidden.close();
    }
  });

  test('/created/<unknown> does not promise that an endpoint works', async () => {
    const k = await startApp();
    try {
      const page = await k.fetch('/created/nothing-was-ever-made-here');
      assert.equal(page.status, 404);
      const text = parse(await page.text()).querySelector('main')?.text ?? '';
      assert.doesNotMatch(text, /still works/);
      assert.match(text, /manage link/);
    } finally {
      await k.close();
    }
  });
});

describe('a wrong upstream creates nothing, in-process', () => {
  let k: InProcess;
  before(async () => {
    k = await startApp();
    k.upstreams.serve(
      'https://www.example.com',
      () => new Response('<!doctype html><p>Welcome', { headers: { 'content-type': 'text/html' } }),
    );
    k.upstreams.serve(
      'https://brochure.example.com',
      () => new Response('<!doctype html><p>Our product', { headers: { 'content-type': 'text/html' } }),
    );
    k.upstreams.serve('https://busy.example.com', () => new Response('overloaded', { status: 503 }));
  });
  after(() => k.close());

  const endpoints = async () => (await k.platform.kv.list({ prefix: 'k2o:endpoint:' })).keys.length;

  test('a website, a closed port, a server down for a moment: refused by the API with a code, the reason and what to do', async () => {
    const before = await endpoints();
    const website = await k.createEndpoint({ upstream_url: 'https://www.example.com/' });
    assert.equal(website.status, 422);
    assert.equal(website.body.error, 'upstream_not_mcp');
    assert.match(website.body.message!, /www\.example\.com answered with a web page, not as an MCP server.*MCP endpoint/);

    const closed = await k.createEndpoint({ upstream_url: 'https://closed.example.com/mcp', transport: 'streamable-http' });
    assert.equal(closed.status, 422, 'naming the transport skips no check');
    assert.equal(closed.body.error, 'upstream_unreachable');
    assert.match(closed.body.message!, /closed\.example\.com cannot be reached: the connection was refused.*Check the URL's host and port/);

    const busy = await k.createEndpoint({ upstream_url: 'https://busy.example.com/mcp' });
    assert.equal(busy.status, 503);
    assert.equal(busy.body.error, 'upstream_unavailable');
    assert.equal(busy.headers.get('retry-after'), '30');
    assert.match(busy.body.message!, /HTTP 503.*try again in 30 seconds/);

    assert.equal(await endpoints(), before, 'nothing was created');
    assert.equal((await k.createEndpoint({ upstream_url: UPSTREAM_URL })).status, 201, 'an MCP server that wants a key is what we expect');
  });

  test('the start page refuses the same way and keeps what was typed; no created page, no manage link', async () => {
    const posted = await k.fetch('/', {
      method: 'POST',
      headers: SAME_ORIGIN,
      body: new URLSearchParams({ upstream_url: 'https://closed.example.com/mcp', display_name: 'Mine' }),
    });
    assert.equal(posted.status, 422);
    assert.equal(posted.headers.get('location'), null);
    const page = parse(await posted.text());
    assert.match(page.querySelector('[role="alert"]')?.text ?? '', /cannot be reached: the connection was refused/);
    assert.equal(page.querySelector('input[name="upstream_url"]')?.getAttribute('value'), 'https://closed.example.com/mcp');
    assert.equal(page.querySelector('input[name="display_name"]')?.getAttribute('value'), 'Mine');
  });

  test('changing an endpoint to a website is refused too, and changes nothing', async () => {
    const created = await k.mustCreateEndpoint();
    const patched = await k.fetch(`/api/slugs/${created.slug}`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${created.manage_token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ upstream_url: 'https://brochure.example.com/' }),
    });
    const refusal = (await patched.json()) as { error: string; message: string };
    assert.equal(patched.status, 422, refusal.message);
    assert.equal(refusal.error, 'upstream_not_mcp');
    const read = await k.fetch(`/api/slugs/${created.slug}`, { headers: { authorization: `Bearer ${created.manage_token}` } });
    assert.equal(((await read.json()) as { upstream_url: string }).upstream_url, UPSTREAM_URL);
  });
});

describe('the consent page says what failed upstream, in-process', () => {
  let k: InProcess;
  before(async () => {
    k = await startApp();
  });
  after(() => k.close());

  async function endpointThatBreaks(origin: string, breaks: () => void) {
    serveMcp(k.upstreams, { url: `${origin}/mcp`, key: KEY });
    const endpoint = (await k.mustCreateEndpoint({ upstream_url: `${origin}/mcp` })).mcp_endpoint!;
    breaks();
    const page = await k.openConsent(endpoint, await k.register());
    const refused = await k.submitConsent(page, { api_key: KEY, action: 'approve' });
    return { status: refused.status, text: parse(await refused.text()).querySelector('main')?.text ?? '' };
  }

  test('a refused connection reads as not reachable, not as a website', async () => {
    const { status, text } = await endpointThatBreaks('https://gone.example.com', () => k.upstreams.stop('https://gone.example.com'));
    assert.equal(status, 502);
    assert.match(text, /gone\.example\.com is not reachable \(the connection was refused/);
    assert.doesNotMatch(text, /website/);
  });

  test('a web page in place of the server reads as a website; a 401 stays a wrong key', async () => {
    const { text } = await endpointThatBreaks('https://moved.example.com', () =>
      k.upstreams.serve('https://moved.example.com', () => new Response('<!doctype html>', { headers: { 'content-type': 'text/html' } })),
    );
    assert.match(text, /answered with a web page, not as an MCP server/);
    const page = await k.openConsent((await k.mustCreateEndpoint()).mcp_endpoint!, await k.register());
    const wrong = await k.submitConsent(page, { api_key: 'sk-not-this-one', action: 'approve' });
    assert.equal(wrong.status, 401);
    assert.match(parse(await wrong.text()).text, /rejected this key \(HTTP 401\)/);
  });
});
