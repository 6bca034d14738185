import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Agent, type Dispatcher, getGlobalDispatcher, setGlobalDispatcher } from 'undici';
import { mustCreateEndpoint } from '../support/api.ts';
import { removeOnExit } from '../support/exit-cleanup.ts';
import { connectWithOAuth } from '../support/oauth-client.ts';
import { freePort } from '../support/server-process.ts';
import type { Running } from '../support/targets.ts';
import { makeCertificate } from '../support/tls-front.ts';
import { startUpstream, type Upstream } from '../support/upstream.ts';

/**
 * The container image and compose.yaml, built and run as an operator would, with Debian's podman
 * (as root: runc, cgroupfs). CI reaches no image registry, so test/container/stand-in-bases.sh
 * first builds the base images the files name from Debian packages (mmdebstrap) and the Node
 * binary in node_modules, tagged with those exact names; the Dockerfile and compose.yaml are then
 * used unchanged. The build's `npm ci` reaches the npm registry through this machine's CA bundle.
 *
 * podman 4.3 has no `podman compose` and no compose provider works offline here, so the compose
 * example runs as the podman commands its services translate to (below, next to each service);
 * only the published ports, PUBLIC_URL and the certificate differ, as in test/e2e/nginx.test.ts.
 *
 * Nothing here is skipped: without podman, mmdebstrap or root the suite fails and says so
 * (.ci/run installs podman, mmdebstrap and runc).
 */

const ROOT = join(import.meta.dirname, '..', '..');
const PODMAN = ['podman', '--runtime', 'runc', '--cgroup-manager', 'cgroupfs'];
const LIMITS = ['--ulimit', 'nofile=20000:20000', '--ulimit', 'nproc=16384:16384'];
/** compose.yaml's image name for the replicas, so the compose run uses the image built here. */
const IMAGE = 'localhost/key2oauth:latest';
const KEY = 'sk-container-0123456789abcdef';
const CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';
const run = `k2o-${process.pid}`;

function podman(args: string[], timeout = 120_000): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(PODMAN[0]!, [...PODMAN.slice(1), ...args], { encoding: 'utf8', timeout, maxBuffer: 64 * 1024 * 1024 });
  return {
    status: result.status,
    stdout: result.stdout ?? '',
    stderr: `${result.stderr ?? ''}${result.error ? String(result.error) : ''}`,
  };
}

function mustPodman(args: string[], timeout?: number): string {
  const result = podman(args, timeout);
  assert.equal(result.status, 0, `podman ${args.join(' ')} failed:\n${result.stderr}${result.stdout}`);
  return result.stdout.trim();
}

/** What this machine lacks to run the suite, or undefined. */
function missingPrerequisite(): string | undefined {
  if (process.getuid?.() !== 0) return 'root (podman runs rootful here)';
  for (const command of ['podman', 'mmdebstrap', 'runc'])
    if (spawnSync('sh', ['-c', `command -v ${command} || test -x /usr/sbin/${command}`]).status !== 0) return `the ${command} command`;
  if (!existsSync(CA_BUNDLE)) return CA_BUNDLE;
  return undefined;
}

async function waitFor(what: string, check: () => Promise<boolean> | boolean, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  assert.fail(`${what}: not within ${ms / 1000} s`);
}

const answers = (url: string) =>
  fetch(url, { signal: AbortSignal.timeout(3000) }).then(
    (response) => response.status,
    () => 0,
  );

/** A network of its own, and the host's address on it (where a test upstream can listen). */
function network(name: string): string {
  mustPodman(['network', 'create', name]);
  return JSON.parse(mustPodman(['network', 'inspect', name]))[0].subnets[0].gateway as string;
}

/**
 * The test upstream listens on every address of this machine, for the few seconds of a test and
 * accepting only its test key: bound to the gateway's address alone, a cold run (fresh bridges)
 * twice could not reach it from the compose network; containers name it by the gateway.
 *
 * Waits until `container` reaches the test upstream: a fresh podman network can take a moment
 * before the host's address on it accepts connections from containers (seen once as a failed key check).
 */
async function upstreamReachable(container: string, upstream: Upstream): Promise<void> {
  const probe = `fetch(${JSON.stringify(upstream.url)}, { signal: AbortSignal.timeout(2000) }).then((r) => process.exit(r.status > 0 ? 0 : 1), () => process.exit(1))`;
  // Asynchronously: the upstream answers on this process's event loop, which spawnSync would block.
  const reaches = () =>
    new Promise<boolean>((resolve) =>
      execFile(PODMAN[0]!, [...PODMAN.slice(1), 'exec', container, 'node', '-e', probe], { timeout: 20_000 }, (error, _out, err) => {
        // A probe cut by the timeout (Node starting slowly in the container while the whole suite
        // runs) reads apart from one whose fetch failed.
        if (error)
          lastError = `${error.killed ? `no answer within 20 s (${error.signal})` : `exit ${error.code}`}: ${error.message} ${err}`;
        resolve(!error);
      }),
    );
  let lastError = '';
  await waitFor(`${container} reaches the test upstream`, reaches, 90_000).catch((error: Error) => {
    throw new Error(`${error.message}; last attempt: ${lastError}`);
  });
}

/** Full OAuth sign-in (SDK client, browser consent with the key) and one tool call through `origin`. */
async function signInAndCall(origin: string, upstream: Upstream): Promise<string> {
  const created = await mustCreateEndpoint({ url: origin } as Running, { upstream_url: upstream.url });
  const { client } = await connectWithOAuth(created.mcp_endpoint!, KEY);
  const result = (await client.callTool({ name: 'echo', arguments: { text: 'from a container' } })) as { content: { text: string }[] };
  await client.close();
  return result.content[0]!.text;
}

describe('the container image and the compose example, on podman', { timeout: 25 * 60_000 }, () => {
  const cleanup: string[][] = [];
  before(() => {
    const missing = missingPrerequisite();
    if (missing) throw new Error(`the container tests need ${missing}; .ci/run installs podman, mmdebstrap and runc`);
    // While working on this suite, CONTAINER_TEST_REUSE_BASES=1 keeps stand-ins built by an earlier run.
    if (
      process.env.CONTAINER_TEST_REUSE_BASES === '1' &&
      podman(['image', 'exists', 'docker.io/library/node:24-bookworm-slim']).status === 0
    )
      console.log('# reusing the stand-in base images of an earlier run (CONTAINER_TEST_REUSE_BASES=1)');
    else {
      const bases = spawnSync('bash', ['test/container/stand-in-bases.sh', ...PODMAN], {
        cwd: ROOT,
        encoding: 'utf8',
        timeout: 15 * 60_000,
      });
      assert.equal(bases.status, 0, `building the stand-in base images failed:\n${bases.stderr}${bases.stdout}`);
    }
    // The Dockerfile unchanged; the build trusts this machine's CA bundle (mounted, and named by
    // the build argument the Dockerfile offers for a TLS-inspecting proxy). --format docker keeps HEALTHCHECK.
    mustPodman(
      [
        'build',
        '--format',
        'docker',
        ...LIMITS,
        '--tag',
        IMAGE,
        '--volume',
        `${CA_BUNDLE}:${CA_BUNDLE}:ro`,
        '--build-arg',
        `NODE_EXTRA_CA_CERTS=${CA_BUNDLE}`,
        '.',
      ].map((arg) => (arg === '.' ? ROOT : arg)),
      15 * 60_000,
    );
    const size = (image: string) => Number(mustPodman(['image', 'inspect', '--format', '{{.Size}}', image])) / 1e6;
    const [total, base] = [size(IMAGE), size('docker.io/library/node:24-bookworm-slim')];
    console.log(
      `# the key2oauth image: ${total.toFixed(0)} MB, of which ${(total - base).toFixed(0)} MB on top of the base (the stand-in base: ${base.toFixed(0)} MB)`,
    );
  });
  after(() => {
    for (const args of cleanup.reverse()) podman(args);
  });

  test('the image alone: non-root, read-only root, SQLite in /data; OAuth and MCP work, HEALTHCHECK passes, SIGTERM stops it cleanly, a restart keeps everything', async () => {
    const net = `${run}-single`;
    const volume = `${run}-data`;
    const name = `${run}-single`;
    cleanup.push(['network', 'rm', '-f', net], ['volume', 'rm', '-f', volume], ['rm', '-f', '-t', '0', name]);
    const gateway = network(net);
    const port = await freePort();
    const origin = `http://127.0.0.1:${port}`;
    const start = () =>
      mustPodman([
        'run',
        '--detach',
        '--name',
        name,
        '--network',
        net,
        '--read-only',
        ...LIMITS,
        '--publish',
        `127.0.0.1:${port}:8080`,
        '--volume',
        `${volume}:/data`,
        '--env',
        `PUBLIC_URL=${origin}`,
        '--env',
        'ALLOW_PRIVATE_UPSTREAMS=true',
        IMAGE,
      ]);
    start();
    await waitFor('the container answers /readyz', async () => (await answers(`${origin}/readyz`)) === 200);
    const upstream = await startUpstream({ key: KEY, host: '0.0.0.0', urlHost: gateway });
    try {
      await upstreamReachable(name, upstream);
      assert.equal(await signInAndCall(origin, upstream), 'echo: from a container');
      assert.equal(mustPodman(['exec', name, 'id', '-u']), '1000', 'runs as the unprivileged node user');
      assert.match(mustPodman(['exec', name, 'ls', '/data']), /\S/, 'the database and secret are in /data');
      assert.notEqual(podman(['exec', name, 'touch', '/app/written']).status, 0, 'the root filesystem is read-only');
      assert.equal(podman(['healthcheck', 'run', name]).status, 0, 'the image HEALTHCHECK (/healthz) passes');

      const stopping = Date.now();
      mustPodman(['stop', '--time', '20', name], 60_000);
      assert.ok(Date.now() - stopping < 15_000, `SIGTERM stopped it (${Date.now() - stopping} ms), no SIGKILL needed`);
      assert.equal(mustPodman(['inspect', '--format', '{{.State.ExitCode}}', name]), '0', 'exit status 0');
      const logs = mustPodman(['logs', name]);
      assert.match(logs, /"msg":"stopped"/);
      assert.ok(!logs.includes(KEY), 'the key is in no log line');

      mustPodman(['rm', name]);
      start();
      await waitFor('the restarted container answers /readyz', async () => (await answers(`${origin}/readyz`)) === 200);
      const list = await fetch(`${origin}/.well-known/oauth-authorization-server`);
      assert.equal(list.status, 200);
      assert.equal(await signInAndCall(origin, upstream), 'echo: from a container', 'serves again on the same volume');
    } finally {
      await upstream.close();
    }
  });

  test('compose.yaml: two replicas on Redis behind nginx with TLS; the flow across them, and /readyz follows Redis', async () => {
    const compose = readFileSync(join(ROOT, 'compose.yaml'), 'utf8');
    // The values below are compose.yaml's; these lines fail if the file changes under them.
    for (const text of [
      `image: ${IMAGE}`,
      'REDIS_URL: redis://redis:6379/0',
      'TRUST_PROXY: "true"',
      'read_only: true',
      "fetch('http://127.0.0.1:8080/readyz')",
      'image: docker.io/library/redis:7-bookworm',
      'command: ["redis-server", "--appendonly", "yes", "--dir", "/data", "--protected-mode", "no"]',
      'image: docker.io/library/nginx:stable-bookworm',
      'command: ["nginx", "-g", "daemon off;"]',
      './docs/deploy/compose-nginx.conf:/etc/nginx/conf.d/default.conf:ro',
      './certs:/etc/nginx/certs:ro',
      '"443:443"',
    ])
      assert.ok(compose.includes(text), `compose.yaml still says ${text}`);
    const readyCheck = "fetch('http://127.0.0.1:8080/readyz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))";

    const net = `${run}-compose`;
    cleanup.push(['network', 'rm', '-f', net]);
    const gateway = network(net);
    const certs = removeOnExit(mkdtempSync(join(tmpdir(), 'key2oauth-certs-')));
    const certificate = makeCertificate('localhost', certs);
    spawnSync('cp', [certificate.certPath, join(certs, 'fullchain.pem')]);
    spawnSync('cp', [join(certs, 'key.pem'), join(certs, 'privkey.pem')]);
    spawnSync('chmod', ['0644', join(certs, 'privkey.pem')]);
    const port = await freePort();
    const origin = `https://localhost:${port}`;
    const service = (alias: string) => ['--name', `${run}-${alias}`, '--network', net, '--network-alias', alias, ...LIMITS];
    const names = ['nginx', 'key2oauth-a', 'key2oauth-b', 'redis'].map((alias) => `${run}-${alias}`);
    cleanup.push(['rm', '-f', '-t', '0', ...names], ['volume', 'rm', '-f', `${run}-redis-data`]);

    // redis: image, command, volume redis-data:/data.
    mustPodman([
      'run',
      '--detach',
      ...service('redis'),
      '--volume',
      `${run}-redis-data:/data`,
      'docker.io/library/redis:7-bookworm',
      'redis-server',
      '--appendonly',
      'yes',
      '--dir',
      '/data',
      '--protected-mode',
      'no',
    ]);
    // key2oauth-a and -b: the x-key2oauth block (image, read_only, environment, healthcheck).
    for (const replica of ['key2oauth-a', 'key2oauth-b'])
      mustPodman([
        'run',
        '--detach',
        ...service(replica),
        '--read-only',
        '--env',
        `PUBLIC_URL=${origin}`,
        '--env',
        'REDIS_URL=redis://redis:6379/0',
        '--env',
        'TRUST_PROXY=true',
        '--env',
        'ALLOW_PRIVATE_UPSTREAMS=true',
        '--health-cmd',
        JSON.stringify(['node', '-e', readyCheck]),
        '--health-interval',
        '10s',
        IMAGE,
      ]);
    // nginx starts once both replicas are healthy (depends_on: condition: service_healthy).
    for (const replica of ['key2oauth-a', 'key2oauth-b'])
      await waitFor(`${replica} is healthy (/readyz)`, () => podman(['healthcheck', 'run', `${run}-${replica}`]).status === 0);
    mustPodman([
      'run',
      '--detach',
      ...service('nginx'),
      '--publish',
      `127.0.0.1:${port}:443`,
      '--volume',
      `${join(ROOT, 'docs/deploy/compose-nginx.conf')}:/etc/nginx/conf.d/default.conf:ro`,
      '--volume',
      `${certs}:/etc/nginx/certs:ro`,
      'docker.io/library/nginx:stable-bookworm',
      'nginx',
      '-g',
      'daemon off;',
    ]);

    const previous: Dispatcher = getGlobalDispatcher();
    setGlobalDispatcher(new Agent({ connect: { ca: certificate.cert } }));
    const upstream = await startUpstream({ key: KEY, host: '0.0.0.0', urlHost: gateway });
    try {
      await waitFor('nginx answers /readyz through TLS', async () => (await answers(`${origin}/readyz`)) === 200);
      for (const replica of ['key2oauth-a', 'key2oauth-b']) await upstreamReachable(`${run}-${replica}`, upstream);
      const logsOf = (replica: string) => mustPodman(['logs', `${run}-${replica}`]);
      // A failure here shows what the replicas and nginx said.
      const withLogs = (error: Error) => {
        throw new Error(
          `${error.message.slice(0, 2000)}\n${['key2oauth-a', 'key2oauth-b', 'nginx'].map((name) => `--- ${name}:\n${podman(['logs', `${run}-${name}`]).stderr.slice(-3000)}${podman(['logs', `${run}-${name}`]).stdout.slice(-3000)}`).join('\n')}`,
        );
      };
      assert.equal(await signInAndCall(origin, upstream).catch(withLogs), 'echo: from a container');
      for (const replica of ['key2oauth-a', 'key2oauth-b'])
        assert.match(logsOf(replica), /"msg":"request"/, `nginx sent requests to ${replica} too`);

      mustPodman(['stop', '--time', '5', `${run}-redis`]);
      for (const replica of ['key2oauth-a', 'key2oauth-b']) {
        await waitFor(
          `${replica} is not ready without Redis`,
          () => podman(['healthcheck', 'run', `${run}-${replica}`]).status !== 0,
          20_000,
        );
        assert.equal(
          mustPodman([
            'exec',
            `${run}-${replica}`,
            'node',
            '-e',
            "fetch('http://127.0.0.1:8080/healthz').then((r) => console.log(r.status))",
          ]),
          '200',
          `${replica} is still alive`,
        );
      }
      const down = await fetch(`${origin}/readyz`);
      assert.equal(down.status, 503, 'through nginx: 503 while Redis is down');
      assert.match(down.headers.get('retry-after') ?? '', /^\d+$/);

      mustPodman(['start', `${run}-redis`]);
      // Each replica reconnects on its own: until both have, nginx may send the flow to one that
      // still answers 503 with Retry-After (rightly). Ready means both, as at the start.
      for (const replica of ['key2oauth-a', 'key2oauth-b'])
        await waitFor(
          `${replica} is ready again once Redis is back`,
          () => podman(['healthcheck', 'run', `${run}-${replica}`]).status === 0,
          30_000,
        );
      await waitFor('ready again through nginx once Redis is back', async () => (await answers(`${origin}/readyz`)) === 200, 30_000);
      assert.equal(await signInAndCall(origin, upstream), 'echo: from a container');
    } finally {
      await upstream.close();
      setGlobalDispatcher(previous);
    }
  });
});
