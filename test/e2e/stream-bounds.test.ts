import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { mustCreateEndpoint } from '../support/api.ts';
import { NO_RATE_LIMITS } from '../support/oauth-raw.ts';
import { authorize } from '../support/security.ts';
import { type StreamingUpstream, startStreamingUpstream } from '../support/streaming-upstream.ts';
import { type Running, targets } from '../support/targets.ts';

/**
 * On the real server and on the Worker: one authorization cannot hold more streams than
 * MAX_STREAMS_PER_GRANT (on Workers counted per isolate; `wrangler dev` runs one), quiet streams
 * get SSE keepalive comments, and those comments are how a client that left is noticed, which
 * frees its place, on workerd too.
 */

const KEY = 'sk-stream-bounds-0123456789abcdef';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

for (const target of targets())
  describe(`stream bounds (${target.name})`, () => {
    let upstream: StreamingUpstream;
    let server: Running;
    let endpoint: string;
    const open: AbortController[] = [];

    before(async () => {
      upstream = await startStreamingUpstream(KEY);
      server = await target.start({ ...NO_RATE_LIMITS, MAX_STREAMS_PER_GRANT: '2', SSE_HEARTBEAT_SECONDS: '1' });
      endpoint = (await mustCreateEndpoint(server, { upstream_url: upstream.url, transport: 'streamable-http' })).mcp_endpoint!;
    });
    after(async () => {
      for (const controller of open) controller.abort();
      await server?.stop();
      await upstream?.close();
    });

    const stream = (token: string) => {
      const controller = new AbortController();
      open.push(controller);
      return {
        controller,
        response: fetch(endpoint, {
          headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' },
          signal: controller.signal,
        }),
      };
    };

    test('a quiet stream gets keepalive comments; a third stream on one grant is refused with 429 and Retry-After; leaving frees a place', async () => {
      const grant = await authorize(server, endpoint, KEY);
      const first = stream(grant.accessToken);
      const second = stream(grant.accessToken);
      const [a, b] = await Promise.all([first.response, second.response]);
      assert.equal(a.status, 200);
      assert.equal(b.status, 200);

      const reader = a.body!.getReader();
      let received = '';
      const deadline = Date.now() + 5000;
      while (!received.includes(': keepalive') && Date.now() < deadline) {
        const { value } = await reader.read();
        received += new TextDecoder().decode(value);
      }
      assert.match(received, /^: open\n\n(: keepalive\n\n)+$/, 'the upstream’s comment, then keepalives');

      const third = await stream(grant.accessToken).response;
      assert.equal(third.status, 429);
      assert.equal(third.headers.get('retry-after'), '5');
      assert.match(((await third.json()) as { error: { message: string } }).error.message, /try again in 5 seconds/);

      // The client leaves the second stream; the next keepalive write finds it gone.
      second.controller.abort();
      let status = 0;
      for (let attempt = 0; attempt < 10 && status !== 200; attempt++) {
        await sleep(500);
        const retry = await stream(grant.accessToken).response;
        status = retry.status;
        if (status !== 200) await retry.body?.cancel();
      }
      assert.equal(status, 200, 'the place was freed once the proxy noticed the client had left');
      await reader.cancel();
    });
  });
