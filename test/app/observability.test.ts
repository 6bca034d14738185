import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { INITIALIZE, type InProcess, KEY, startApp } from '../support/in-process.ts';

/** Request ids, the access log's fields, and /metrics after a real flow. */

const METRICS_TOKEN = 'metrics-token-0123456789abcdef';

function requestLines(k: InProcess): Record<string, unknown>[] {
  return k.logs.map((line) => JSON.parse(line) as Record<string, unknown>).filter((entry) => entry.msg === 'request');
}

/** The value of one sample line, `name{labels} value`, or 0 when absent. */
function sample(text: string, series: string): number {
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

describe('observability, in-process', () => {
  let k: InProcess;
  before(async () => {
    k = await startApp({ env: { METRICS_TOKEN, RATE_LIMIT_REGISTER: '2/3600' } });
  });
  after(() => k.close());

  const scrape = async () => {
    const response = await k.fetch('/metrics', { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    return response.text();
  };

  test('every response carries a request id: a safe incoming one is kept, anything else is replaced', async () => {
    const fresh = await k.fetch('/healthz');
    assert.match(fresh.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
    const kept = await k.fetch('/healthz', { headers: { 'x-request-id': 'proxy-abc.123:9' } });
    assert.equal(kept.headers.get('x-request-id'), 'proxy-abc.123:9');
    for (const unsafe of ['has space inside', 'x'.repeat(200), 'short', '{"level":"error"}']) {
      const replaced = await k.fetch('/healthz', { headers: { 'x-request-id': unsafe } });
      assert.notEqual(replaced.headers.get('x-request-id'), unsafe);
      assert.match(replaced.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
    }
  });

  test('the access log line has the request id, the route pattern, status, duration and the upstream latency, and no secret', async () => {
    const endpoint = (await k.mustCreateEndpoint()).mcp_endpoint!;
    const grant = await k.authorize(endpoint);
    const response = await k.mcp(endpoint, grant.accessToken, INITIALIZE, { 'x-request-id': 'trace-mcp-000001' });
    assert.equal(response.status, 200);
    assert.match(response.headers.get('server-timing') ?? '', /^upstream;dur=\d+$/);
    await response.text();
    const line = requestLines(k).find((entry) => entry.request_id === 'trace-mcp-000001');
    assert.ok(line, 'the line carries the id the caller sent');
    assert.equal(line.route, '/:slug/mcp');
    assert.equal(line.method, 'POST');
    assert.equal(line.status, 200);
    assert.equal(typeof line.ms, 'number');
    assert.equal(typeof line.upstream_ms, 'number');
    const all = k.logs.join('\n');
    for (const secret of [KEY, grant.accessToken, grant.refreshToken, grant.code]) assert.ok(!all.includes(secret));
  });

  test('/metrics after a flow: requests by route and status, upstream latency, grants issued and revoked, rate-limit hits, open streams', async () => {
    const before = await scrape();
    const endpoint = await k.mustCreateEndpoint();
    const grant = await k.authorize(endpoint.mcp_endpoint!);
    const answered = await k.mcp(endpoint.mcp_endpoint!, grant.accessToken, INITIALIZE);
    assert.match(answered.headers.get('content-type') ?? '', /^text\/event-stream/);
    const streaming = await scrape();
    assert.equal(sample(streaming, 'key2oauth_open_streams') - sample(before, 'key2oauth_open_streams'), 1, 'the unread stream is open');
    await answered.text();
    const revoke = await k.fetch(`/api/slugs/${endpoint.slug}/grants`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${endpoint.manage_token}` },
    });
    assert.equal(revoke.status, 200);
    // The registration limit is 2 per address: the third from one address is refused.
    for (let attempt = 0; attempt < 3; attempt++) {
      const response = await k.fetch('/oauth/register', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{}',
        clientAddress: '203.0.113.99',
      });
      await response.body?.cancel();
    }

    const after = await scrape();
    const delta = (series: string) => sample(after, series) - sample(before, series);
    assert.equal(delta('key2oauth_open_streams'), 0, 'a stream read to its end is closed');
    assert.ok(delta('key2oauth_http_requests_total{route="/:slug/mcp",method="POST",status="200"}') >= 1);
    assert.ok(delta('key2oauth_http_requests_total{route="/api/slugs",method="POST",status="201"}') >= 1);
    assert.ok(delta('key2oauth_upstream_latency_seconds_count') >= 1);
    assert.ok(delta('key2oauth_upstream_latency_seconds_bucket{le="+Inf"}') >= 1);
    assert.equal(delta('key2oauth_grants_issued_total'), 1);
    assert.equal(delta('key2oauth_grants_revoked_total'), 1);
    assert.ok(delta('key2oauth_rate_limited_total{bucket="register"}') >= 1);
    assert.ok(!after.includes(endpoint.slug!), 'no slug in any label');
    assert.match(after, /# TYPE key2oauth_upstream_latency_seconds histogram/);
  });

  test('/metrics wants the token', async () => {
    for (const authorization of [
      undefined,
      'Bearer wrong-token-0123456789',
      `Basic ${METRICS_TOKEN}`,
      METRICS_TOKEN,
      `Bearer ${METRICS_TOKEN}, Bearer ${METRICS_TOKEN}`,
    ]) {
      const response = await k.fetch('/metrics', { headers: authorization ? { authorization } : {} });
      assert.equal(response.status, 401);
      await response.body?.cancel();
    }
  });
});

describe('/metrics when it is off, and on Workers', () => {
  test('without METRICS_TOKEN it does not exist', async () => {
    const k = await startApp();
    try {
      assert.equal((await k.fetch('/metrics')).status, 404);
    } finally {
      await k.close();
    }
  });

  test('on a runtime of short-lived isolates it answers 501 and says where to look', async () => {
    const k = await startApp({ env: { METRICS_TOKEN }, platform: { processMetrics: false } });
    try {
      const response = await k.fetch('/metrics', { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
      assert.equal(response.status, 501);
      assert.match(((await response.json()) as { message: string }).message, /Workers Analytics/);
    } finally {
      await k.close();
    }
  });
});
