import assert from 'node:assert/strict';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { childPids } from '../../scripts/bench/proc.ts';
import { YOUNG_GENERATION_FLAG } from '../../src/adapters/node/young-generation.ts';
import { type ServerProcess, startServer } from '../support/server-process.ts';
import { startUpstream, type Upstream } from '../support/upstream.ts';

/**
 * WORKERS=2 (Node only: a Worker has no processes to start): two server processes share the port
 * and the SQLite file. Both accept connections, state written through one is read through the
 * other, and a rate limit counts across both exactly.
 */
const sockets = (pid: number) =>
  readdirSync(`/proc/${pid}/fd`).filter((fd) => {
    try {
      return readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('socket:');
    } catch {
      return false;
    }
  }).length;

/** One request on a connection of its own, kept open (idle, keep-alive) until `release`. */
function onNewConnection(url: string, path: string, init: { method?: string; body?: string } = {}) {
  let release = () => {};
  const answer = new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = request(new URL(path, url), {
      method: init.method ?? 'GET',
      // An agent of its own: its own connection, kept alive after the answer.
      agent: new Agent({ keepAlive: true, maxSockets: 1 }),
      headers: { 'content-type': 'application/json' },
    });
    req.on('response', (res) => {
      let body = '';
      res.on('data', (chunk) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
    release = () => req.socket?.destroy();
    req.end(init.body);
  });
  return { answer, release: () => release() };
}

describe('WORKERS=2', () => {
  let server: ServerProcess;
  // Creation checks that an MCP server answers (upstream/detect.ts): a real one, wanting a key.
  let upstream: Upstream;
  before(async () => {
    upstream = await startUpstream({ key: 'sk-workers-setting-0123456789' });
    server = await startServer({ WORKERS: '2', RATE_LIMIT_CREATE: '6/3600' });
    // /healthz answers as soon as the first worker listens; the kernel spreads connections only
    // over sockets already open, so wait for the second worker's own "listening" line too.
    const deadline = Date.now() + 20_000;
    while ((server.output().match(/"msg":"listening"/g) ?? []).length < 2) {
      assert.ok(Date.now() < deadline, `both workers listen:\n${server.output()}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  });
  after(async () => {
    await server.stop();
    await upstream.close();
  });

  test('each worker runs with the young generation capped, as the primary does (src/adapters/node/young-generation.ts)', () => {
    const workers = childPids(server.pid);
    assert.equal(workers.length, 2, server.output());
    for (const pid of [server.pid, ...workers]) {
      assert.ok(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(YOUNG_GENERATION_FLAG), `pid ${pid}`);
    }
  });

  test('two workers accept connections, share what they store, and count one rate limit together', async () => {
    const workers = childPids(server.pid);
    assert.equal(workers.length, 2, server.output());
    const before = workers.map(sockets);

    // Fresh connections, held open, so the kernel spreads them over both workers.
    const created = Array.from({ length: 6 }, () =>
      onNewConnection(server.url, '/api/slugs', {
        method: 'POST',
        body: JSON.stringify({ upstream_url: upstream.url, transport: 'streamable-http' }),
      }),
    );
    const reads = Array.from({ length: 30 }, () => onNewConnection(server.url, '/healthz'));
    const answers = await Promise.all(created.map((c) => c.answer));
    await Promise.all(reads.map((r) => r.answer));
    assert.deepEqual(
      answers.map((a) => a.status),
      [201, 201, 201, 201, 201, 201],
    );
    const grew = workers.map((pid, i) => sockets(pid) - before[i]!);
    assert.ok(
      grew.every((n) => n > 0),
      `each worker holds some of the 36 connections: ${grew}`,
    );

    // Every endpoint is readable whichever worker answers.
    for (const { body } of answers) {
      const { slug, manage_token: manageToken } = JSON.parse(body) as { slug: string; manage_token: string };
      for (let i = 0; i < 4; i++) {
        const response = await fetch(`${server.url}/api/slugs/${slug}`, {
          headers: { authorization: `Bearer ${manageToken}`, connection: 'close' },
        });
        assert.equal(response.status, 200);
      }
    }

    // The seventh creation, on any worker, is refused: one counter in the shared file.
    const seventh = onNewConnection(server.url, '/api/slugs', {
      method: 'POST',
      body: JSON.stringify({ upstream_url: upstream.url }),
    });
    assert.equal((await seventh.answer).status, 429);
    for (const held of [...created, ...reads, seventh]) held.release();
  });
});
