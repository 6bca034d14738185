import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type Recorder, startRecorder } from '../support/http-fixtures.ts';
import { type McpUpstream, startMcpUpstream } from '../support/mcp-upstream.ts';
import type { TestOAuthProvider } from '../support/oauth-client.ts';
import { NO_RATE_LIMITS } from '../support/oauth-raw.ts';
import { type Running, targets } from '../support/targets.ts';
import { authorize, bearer, createEndpoint, sseReader } from '../support/transport-helpers.ts';

const KEY = 'sk-legacy-messages-0123456789abcdef';
const NOTIFICATION = '{"jsonrpc":"2.0","method":"notifications/initialized"}';

for (const target of targets())
  describe(`malformed message URLs on a legacy HTTP+SSE endpoint (${target.name})`, () => {
    let upstream: McpUpstream;
    let elsewhere: Recorder;
    let server: Running;
    let slug: string;
    let provider: TestOAuthProvider;

    before(async () => {
      upstream = await startMcpUpstream({ key: KEY, mode: 'legacy-sse' });
      elsewhere = await startRecorder();
      server = await target.start(NO_RATE_LIMITS);
      const created = await createEndpoint(server, { upstream_url: upstream.url });
      assert.equal(created.transport, 'sse');
      slug = created.slug!;
      provider = await authorize(created.mcp_endpoint!, KEY);
    });
    after(async () => {
      await server?.stop();
      await upstream?.close();
      await elsewhere?.close();
    });

    /** Opens the stream with a valid token; returns the message URL from its `endpoint` event. */
    async function openStream() {
      const response = await fetch(`${server.url}/${slug}/sse`, {
        headers: { authorization: bearer(provider), accept: 'text/event-stream' },
      });
      assert.equal(response.status, 200);
      const events = sseReader(response.body!);
      const endpoint = await events.next();
      assert.equal(endpoint.event, 'endpoint');
      return { events, url: new URL(endpoint.data) };
    }

    const post = (url: string | URL) =>
      fetch(url, { method: 'POST', headers: { authorization: bearer(provider), 'content-type': 'application/json' }, body: NOTIFICATION });
    const upstreamPosts = () => upstream.requests.filter((request) => request.method === 'POST').length;

    test('missing, empty or oversized to/sig get 400; a forged sig or to gets 403; none reaches any server', async () => {
      const { events, url } = await openStream();
      try {
        const to = url.searchParams.get('to')!;
        const sig = url.searchParams.get('sig')!;
        assert.match(to, /^\/messages\?sessionId=/);
        const base = `${server.url}/${slug}/messages`;
        const at = (params: Record<string, string>) => `${base}?${new URLSearchParams(params)}`;
        const flipped = `${sig.slice(0, -1)}${sig.endsWith('0') ? '1' : '0'}`;
        const foreign = `http://${new URL(elsewhere.origin).host}/messages?sessionId=1`;

        const cases: [string, string, number][] = [
          ['no parameters', base, 400],
          ['no to', at({ sig }), 400],
          ['no sig', at({ to }), 400],
          ['empty to', at({ to: '', sig }), 400],
          ['empty sig', at({ to, sig: '' }), 400],
          // At the limit the length passes and the signature decides.
          ['a to of 4096 characters', at({ to: `${to}&pad=${'x'.repeat(4096 - to.length - 5)}`, sig }), 403],
          ['a to of 4097 characters', at({ to: `${to}&pad=${'x'.repeat(4097 - to.length - 5)}`, sig }), 400],
          ['a to of 6000 characters', at({ to: `/${'x'.repeat(5999)}`, sig }), 400],
          ['a sig with one character changed', at({ to, sig: flipped }), 403],
          ['a sig in upper case', at({ to, sig: sig.toUpperCase() }), 403],
          ['another session', at({ to: to.replace(/sessionId=[^&]+/, 'sessionId=00000000-0000-0000-0000-000000000000'), sig }), 403],
          ['another path on the upstream', at({ to: '/admin/delete-everything', sig }), 403],
          ['to naming another origin', at({ to: foreign, sig }), 403],
          ['to naming another origin, scheme-relative', at({ to: foreign.replace('http:', ''), sig }), 403],
          ['to not starting with /', at({ to: to.slice(1), sig }), 403],
          ['to with the right path on another host', at({ to: `${elsewhere.origin}${to}`, sig }), 403],
        ];
        const before = upstreamPosts();
        for (const [what, message, status] of cases) {
          const response = await post(message);
          const body = await response.text();
          assert.equal(response.status, status, `${what}: ${body}`);
          assert.ok(body.length > 0 && JSON.parse(body).error, `${what}: a JSON-RPC error`);
        }
        assert.equal(upstreamPosts(), before, 'no message reached the upstream');
        assert.equal(elsewhere.connections, 0, 'nothing connected to the other server');

        // The untouched URL is what works.
        const ok = await post(url);
        assert.equal(ok.status, 202, await ok.text());
        assert.equal(upstreamPosts(), before + 1);
      } finally {
        await events.cancel();
      }
    });

    test('an endpoint event whose path looks like another host stays a path on the upstream', async () => {
      // `/.//host/…` is a path on the upstream's origin, so the stream is relayed and its URL signed;
      // resolved again as `//host/…` it would name another origin: the message must go to the upstream.
      upstream.intercept = (req, res) => {
        if (req.method !== 'GET') return false;
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write(`event: endpoint\ndata: /.//${new URL(elsewhere.origin).host}/messages?sessionId=1\n\n`);
        return true;
      };
      const { events, url } = await openStream().finally(() => (upstream.intercept = undefined));
      try {
        assert.equal(url.origin, server.url);
        assert.ok(url.searchParams.get('to')!.startsWith('//'), url.href);
        const before = upstreamPosts();
        await (await post(url)).body?.cancel();
        assert.equal(upstreamPosts(), before + 1, 'the message went to the upstream');
        assert.equal(elsewhere.connections, 0, 'nothing connected to the other host');
      } finally {
        await events.cancel();
      }
    });
  });
