import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { diagnose, type Step } from '../../src/cli/doctor-checks.ts';
import { listGrants } from '../../src/oauth/grants.ts';
import { type InProcess, KEY, PUBLIC_URL, startApp } from '../support/in-process.ts';
import { serveMcp } from '../support/in-process-upstream.ts';

/**
 * `key2oauth doctor` against the app in-process: the doctor's fetch reaches the app whatever host
 * the URL names, as a deployment reached under another name would be. Faults that need a real
 * reverse proxy (a stripped path prefix, buffering, CORS headers dropped) are in test/cli/doctor.test.ts.
 */

describe('key2oauth doctor, in-process', () => {
  let k: InProcess;
  let slug: string;
  before(async () => {
    k = await startApp();
    slug = (await k.mustCreateEndpoint()).slug!;
  });
  after(() => k.close());

  const doctorFetch = ((input: string | URL | Request, init?: RequestInit) => k.fetch(String(input), init)) as typeof fetch;
  const run = (endpoint: string, apiKey?: string) => diagnose({ endpoint, fetch: doctorFetch, ...(apiKey ? { apiKey } : {}) });
  const step = (steps: Step[], name: string) => steps.find((candidate) => candidate.name === name);
  const failed = (steps: Step[]) => steps.filter((candidate) => !candidate.ok).map((candidate) => candidate.name);

  test('a healthy deployment: every step passes, as every client registers, and the key lists the upstream tools', async () => {
    const steps = await run(`${PUBLIC_URL}/${slug}/mcp`, KEY);
    assert.deepEqual(failed(steps), [], JSON.stringify(steps, null, 1));
    for (const name of [
      'https',
      'challenge',
      'PUBLIC_URL',
      'resource metadata',
      'authorization server metadata',
      'CORS',
      'registration as Claude',
      'registration as ChatGPT',
      'registration as Cursor',
      'authorization page',
      'streaming',
      'sign in with the key',
    ])
      assert.ok(step(steps, name)?.ok, name);
    assert.equal(step(steps, 'tools')?.detail, 'echo');
  });

  test('a credential of several fields: --credential values sign in, each where the template puts it, and no value is printed', async () => {
    const QUERY_KEY = 'qk-doctor-LEAKCHECK-0123456789';
    serveMcp(k.upstreams, {
      url: 'https://templated.example.com/mcp',
      key: QUERY_KEY,
      expects: (url, header) => url.searchParams.get('key') === QUERY_KEY && header('x-account-id') === 'acct-7',
    });
    const created = await k.mustCreateEndpoint({
      upstream_url: 'https://templated.example.com/mcp',
      credentials: [
        { in: 'query', name: 'key' },
        { in: 'header', name: 'X-Account-Id' },
      ],
    });
    const steps = await diagnose({ endpoint: created.mcp_endpoint!, fetch: doctorFetch, credentials: [QUERY_KEY, 'acct-7'] });
    assert.deepEqual(failed(steps), [], JSON.stringify(steps, null, 1));
    assert.equal(step(steps, 'tools')?.detail, 'echo');
    const wrong = await diagnose({ endpoint: created.mcp_endpoint!, fetch: doctorFetch, credentials: [`${QUERY_KEY}-old`, 'acct-7'] });
    assert.deepEqual(failed(wrong), ['sign in with the key']);
    assert.ok(!JSON.stringify([steps, wrong]).includes(QUERY_KEY), 'doctor prints no value, even from the refusal page');
  });

  test('the /sse URL of an endpoint passes discovery too', async () => {
    const steps = await run(`${PUBLIC_URL}/${slug}/sse`);
    assert.deepEqual(failed(steps), []);
    assert.match(step(steps, 'resource metadata')!.detail, new RegExp(`/${slug}/sse$`));
  });

  test('PUBLIC_URL not what clients use: named, with the value to set', async () => {
    const steps = await run(`https://mcp.other.example/${slug}/mcp`);
    const problem = step(steps, 'PUBLIC_URL')!;
    assert.equal(problem.ok, false);
    assert.match(problem.detail, /calls itself https:\/\/bridge\.example\.org, but you reached it at https:\/\/mcp\.other\.example/);
    assert.equal(problem.fix, 'Set PUBLIC_URL=https://mcp.other.example (the origin users paste), and restart.');
  });

  test('plain http on a public host: named, with TLS as the fix', async () => {
    const steps = await run(`http://bridge.example.org/${slug}/mcp`);
    const problem = step(steps, 'https')!;
    assert.equal(problem.ok, false);
    assert.match(problem.detail, /plain http/);
    assert.match(problem.fix!, /TLS/);
  });

  test('a wrong key: the sign-in step reports what the consent page said', async () => {
    const steps = await run(`${PUBLIC_URL}/${slug}/mcp`, 'sk-wrong');
    const problem = step(steps, 'sign in with the key')!;
    assert.equal(problem.ok, false);
    assert.match(problem.detail, /rejected this key/);
  });

  test('an unknown slug, and a URL that is no endpoint URL', async () => {
    const unknown = await run(`${PUBLIC_URL}/AAAAAAAAAAAA/mcp`);
    assert.match(step(unknown, 'challenge')!.detail, /404/);
    const shapeless = await run(`${PUBLIC_URL}/nothing`);
    assert.equal(step(shapeless, 'endpoint URL')?.ok, false);
  });

  test('with a key, the grant doctor made is revoked when it is done', async () => {
    const fresh = (await k.mustCreateEndpoint()).slug!;
    const steps = await run(`${PUBLIC_URL}/${fresh}/mcp`, KEY);
    assert.deepEqual(failed(steps), [], JSON.stringify(steps, null, 1));
    assert.equal(step(steps, 'tools')?.detail, 'echo');
    assert.deepEqual(await listGrants(k.platform, fresh), [], 'no grant is left on the endpoint');
    assert.match(step(steps, 'clean up')!.detail, /revoked the grant/);
  });

  test('with a key, the grant is revoked when a step after sign-in fails too', async () => {
    // An upstream that takes the key but fails tools/list: the run fails after tokens were issued.
    const upstream = serveMcp(k.upstreams, { url: 'https://tools-fail.example.com/mcp', key: KEY });
    const real = k.upstreams.handler(upstream.url)!;
    k.upstreams.serve(upstream.url, async (request) => {
      const body = request.method === 'POST' ? await request.clone().text() : '';
      return body.includes('"tools/list"') ? new Response('upstream broke', { status: 500 }) : real(request);
    });
    const fresh = (await k.mustCreateEndpoint({ upstream_url: upstream.url })).slug!;
    const steps = await run(`${PUBLIC_URL}/${fresh}/mcp`, KEY);
    assert.ok(step(steps, 'sign in with the key')?.ok, JSON.stringify(steps, null, 1));
    assert.equal(step(steps, 'tools')?.ok, false);
    assert.deepEqual(await listGrants(k.platform, fresh), [], 'no grant is left on the endpoint');
    assert.equal(step(steps, 'clean up')?.ok, true);
  });
});
