import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Step } from '../../src/cli/doctor-checks.ts';
import { mustCreateEndpoint } from '../support/api.ts';
import { type Nginx, startNginx } from '../support/nginx.ts';
import { freePort, type ServerProcess, startServer } from '../support/server-process.ts';
import { startUpstream, type Upstream } from '../support/upstream.ts';

/**
 * `key2oauth doctor`, the command, against real servers behind a real nginx, each self-hoster's
 * fault introduced on purpose: a proxy that strips the path prefix, one that buffers responses
 * (nginx's default) and drops the CORS headers, and a proxy configured right. The doctor is an
 * HTTP client: what it reports does not depend on the runtime behind the proxy, so the Node server
 * stands in for both (its in-process checks are in test/app/doctor.test.ts).
 */

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'key2oauth.js');
const KEY = 'sk-doctor-0123456789abcdef';

function doctor(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, 'doctor', ...args], { env: { PATH: process.env.PATH ?? '' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

async function doctorJson(args: string[]): Promise<{ code: number | null; steps: Step[] }> {
  const { code, stdout, stderr } = await doctor([...args, '--json']);
  assert.ok(stdout, stderr);
  return { code, steps: (JSON.parse(stdout) as { steps: Step[] }).steps };
}

const named = (steps: Step[], name: string) => steps.find((step) => step.name === name);

describe('key2oauth doctor behind nginx', () => {
  let upstream: Upstream;
  let faulty: ServerProcess;
  let good: ServerProcess;
  let nginx: Nginx;
  let faultyPort: number;
  let goodPort: number;
  let faultySlug: string;
  let goodEndpoint: string;

  before(async () => {
    upstream = await startUpstream({ key: KEY });
    [faultyPort, goodPort] = [await freePort(), await freePort()];
    faulty = await startServer({ PUBLIC_URL: `http://127.0.0.1:${faultyPort}` });
    good = await startServer({ PUBLIC_URL: `http://127.0.0.1:${goodPort}` });
    const backend = (server: ServerProcess) => new URL(server.url).port;
    nginx = await startNginx(
      `
  server {
    listen 127.0.0.1:${faultyPort};
    # Mounted under a path, the prefix stripped on the way in.
    location /bridge/ { proxy_pass http://127.0.0.1:${backend(faulty)}/; }
    # nginx's default buffering, and the CORS headers dropped.
    location / {
      proxy_pass http://127.0.0.1:${backend(faulty)};
      proxy_hide_header Access-Control-Allow-Origin;
      proxy_hide_header Access-Control-Expose-Headers;
    }
  }
  server {
    listen 127.0.0.1:${goodPort};
    location / {
      proxy_pass http://127.0.0.1:${backend(good)};
      proxy_http_version 1.1;
      proxy_buffering off;
    }
  }`,
      [faultyPort, goodPort],
    );
    faultySlug = (await mustCreateEndpoint(faulty, { upstream_url: upstream.url })).slug!;
    goodEndpoint = (await mustCreateEndpoint(good, { upstream_url: upstream.url })).mcp_endpoint!;
  });
  after(async () => {
    await nginx?.stop();
    await faulty?.stop();
    await good?.stop();
    await upstream?.close();
  });

  test('a proxy configured right: exit 0, every step passes, the key signs in and lists the tools', async () => {
    assert.equal(new URL(goodEndpoint).port, String(goodPort), 'the endpoint URL is the public one, through nginx');
    const { code, steps } = await doctorJson([goodEndpoint, '--api-key', KEY]);
    assert.deepEqual(
      steps.filter((step) => !step.ok),
      [],
    );
    assert.equal(code, 0);
    assert.equal(named(steps, 'tools')?.detail, 'echo');
    const human = await doctor([goodEndpoint]);
    assert.equal(human.code, 0);
    assert.match(human.stdout, /✔ streaming: first event after \d+ ms/);
    assert.match(human.stdout, /Everything a client needs works\./);
  });

  test('nginx buffering and dropped CORS headers: exit 1, both named with their fix', async () => {
    const { code, steps } = await doctorJson([`http://127.0.0.1:${faultyPort}/${faultySlug}/mcp`]);
    assert.equal(code, 1);
    assert.deepEqual(
      steps.filter((step) => !step.ok).map((step) => step.name),
      ['CORS', 'streaming'],
    );
    assert.match(named(steps, 'streaming')!.detail, /buffers responses/);
    assert.match(named(steps, 'streaming')!.fix!, /proxy_buffering off/);
    assert.match(named(steps, 'CORS')!.detail, /Access-Control-Allow-Origin/);
  });

  test('a proxy that strips the path prefix: exit 1, the prefix named, with the fix', async () => {
    const { code, steps } = await doctorJson([`http://127.0.0.1:${faultyPort}/bridge/${faultySlug}/mcp`]);
    assert.equal(code, 1);
    const problem = named(steps, 'resource metadata')!;
    assert.equal(problem.ok, false);
    assert.match(problem.detail, new RegExp(`names http://127\\.0\\.0\\.1:${faultyPort}/${faultySlug}/mcp`));
    assert.match(problem.fix!, /strips the \/bridge prefix/);
  });

  test('usage errors exit 2', async () => {
    assert.equal((await doctor([])).code, 2);
    const unknown = await doctor([goodEndpoint, '--frobnicate']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown option --frobnicate/);
  });
});
