import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { before, describe, test } from 'node:test';
import { removeOnExit } from '../support/exit-cleanup.ts';
import { freePort } from '../support/server-process.ts';
import { startUpstream } from '../support/upstream.ts';

/**
 * The npm package as a user gets it: `npm pack` (whose prepack step builds dist/), then
 * `npm i -g --prefix DIR` of that tarball, then the installed `key2oauth` on the Node 24 that
 * npm test runs on (the package asks for 22.19 or newer). Installing fetches the runtime
 * dependencies from the npm registry (or npm's cache), as any `npm i -g` does.
 */

const ROOT = join(import.meta.dirname, '..', '..');
const work = removeOnExit(mkdtempSync(join(tmpdir(), 'key2oauth-package-')));
const prefix = join(work, 'prefix');
const installed = join(prefix, 'lib', 'node_modules', 'key2oauth');
const bin = join(prefix, 'bin', 'key2oauth');
/** This Node first on PATH, as for a user whose `node` is 22.19 or newer. */
const PATH = `${dirname(process.execPath)}:${process.env.PATH ?? ''}`;

function run(command: string, args: string[], options: { cwd?: string; env?: Record<string, string> } = {}) {
  const result = spawnSync(command, args, {
    encoding: 'utf8',
    timeout: 180_000,
    cwd: options.cwd,
    env: { ...process.env, PATH, ...options.env },
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr, output: `${result.stdout}${result.stderr}` };
}

/** `run`, without blocking this process: for a command that reaches an upstream served from here. */
function runAsync(command: string, args: string[], options: { env?: Record<string, string> } = {}) {
  const child = spawn(command, args, { timeout: 180_000, env: { ...process.env, PATH, ...options.env } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk));
  return new Promise<ReturnType<typeof run>>((resolve) =>
    child.on('close', (status) => resolve({ status, stdout, stderr, output: `${stdout}${stderr}` })),
  );
}

describe('the npm package, packed and installed globally into a temporary prefix', () => {
  let tarball: string;
  let install: ReturnType<typeof run>;
  before(() => {
    const packed = run('npm', ['pack', '--pack-destination', work, '--silent'], { cwd: ROOT });
    assert.equal(packed.status, 0, `npm pack failed:\n${packed.output}`);
    tarball = join(work, readdirSync(work).find((name) => name.endsWith('.tgz'))!);
    install = run('npm', ['install', '--global', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', tarball], {
      cwd: work,
    });
    assert.equal(install.status, 0, `npm i -g of the tarball failed:\n${install.output}`);
  });

  test('it carries built JavaScript and no TypeScript, tests or dev dependencies, and installs without a warning', () => {
    const files = run('tar', ['-tzf', tarball]).stdout.split('\n').filter(Boolean);
    assert.ok(files.includes('package/dist/cli/main.js'), 'dist/cli/main.js is packed');
    assert.ok(files.includes('package/bin/key2oauth.js'));
    assert.deepEqual(
      files.filter((file) => file.endsWith('.ts')),
      [],
      'no .ts file (Node does not strip types under node_modules)',
    );
    assert.deepEqual(
      files.filter((file) => /^package\/(src|test|scripts)\//.test(file)),
      [],
    );
    const dependencies = readdirSync(join(installed, 'node_modules'));
    for (const dev of ['typescript', 'wrangler', 'node', '@biomejs', 'c8'])
      assert.ok(!dependencies.includes(dev), `${dev} is not installed`);
    // The MCP SDK is a runtime dependency (stdio servers use its transports); its test tools are not.
    const mcp = readdirSync(join(installed, 'node_modules', '@modelcontextprotocol'));
    assert.deepEqual(mcp, ['sdk'], 'of @modelcontextprotocol, only the SDK is installed');
    assert.doesNotMatch(install.output, /npm warn|EBADENGINE|deprecated/i, `a quiet install:\n${install.output}`);
  });

  test('key2oauth --version and --help', () => {
    const version = run(bin, ['--version']);
    assert.equal(version.status, 0, version.output);
    assert.equal(
      version.stdout,
      `key2oauth ${(JSON.parse(run('cat', [join(ROOT, 'package.json')]).stdout) as { version: string }).version}\n`,
    );
    const help = run(bin, ['--help']);
    assert.equal(help.status, 0);
    for (const command of ['serve', 'doctor', 'endpoints', 'grants']) assert.match(help.stdout, new RegExp(`\\n  ${command} `));
  });

  test('key2oauth serve answers /healthz and /readyz, endpoints and grants read its store, and SIGTERM stops it cleanly', async () => {
    const port = await freePort();
    const dataDir = join(work, 'data');
    const env = { PORT: String(port), DATA_DIR: dataDir, PUBLIC_URL: `http://127.0.0.1:${port}`, ALLOW_PRIVATE_UPSTREAMS: 'true' };
    const server = serveInstalled(env);
    // Creation checks that an MCP server answers there (upstream/detect.ts).
    const upstream = await startUpstream({ key: 'sk-npm-package-0123456789' });
    try {
      await server.ready();
      assert.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 200);
      const created = await runAsync(bin, ['endpoints', 'create', '--upstream', upstream.url, '--json'], { env });
      assert.equal(created.status, 0, created.output);
      const { slug } = JSON.parse(created.stdout) as { slug: string };
      const listed = run(bin, ['endpoints', 'list'], { env });
      assert.equal(listed.status, 0, listed.output);
      assert.match(listed.stdout, new RegExp(slug));
      const grants = run(bin, ['grants', 'list', slug], { env });
      assert.equal(grants.status, 0, grants.output);
      const doctor = run(bin, ['doctor', '--help'], { env });
      assert.equal(doctor.status, 0, doctor.output);
    } finally {
      server.stop();
      await upstream.close();
    }
    assert.equal(await server.exited, 0, `SIGTERM is a clean stop:\n${server.output()}`);
  });

  test('key2oauth serve with STDIO_SERVERS starts from the package too: what stdio servers need is a runtime dependency', async () => {
    const port = await freePort();
    const file = join(work, 'stdio.json');
    writeFileSync(
      file,
      JSON.stringify({ servers: [{ slug: 'packaged', command: 'node', args: ['-e', ''], credentials: [{ label: 'Key', env: 'KEY' }] }] }),
    );
    const env = {
      PORT: String(port),
      DATA_DIR: join(work, 'data-stdio'),
      PUBLIC_URL: `http://127.0.0.1:${port}`,
      STDIO_SERVERS: file,
      // The sandbox is not what this test is about (test/stdio/ runs it); only what the package loads.
      STDIO_SANDBOX: 'off',
    };
    const server = serveInstalled(env);
    try {
      await server.ready();
      const metadata = await fetch(`http://127.0.0.1:${port}/.well-known/oauth-protected-resource/packaged/mcp`);
      assert.equal(metadata.status, 200, 'the declared server is an endpoint');
    } finally {
      server.stop();
    }
    assert.equal(await server.exited, 0, `SIGTERM is a clean stop:\n${server.output()}`);
  });
});

/**
 * The installed `key2oauth serve` with `env` (its PORT among them): `ready()` waits for /readyz to
 * answer 200 (failing with what it printed, also when it exits first); `stop()` sends SIGTERM, and
 * `exited` gives the exit code.
 */
function serveInstalled(env: Record<string, string>) {
  const child = spawn(bin, ['serve'], { env: { ...process.env, PATH, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    async ready() {
      let ready = 0;
      for (let i = 0; i < 200 && ready !== 200 && child.exitCode === null; i++) {
        ready = await fetch(`http://127.0.0.1:${env.PORT}/readyz`).then(
          (response) => response.status,
          () => 0,
        );
        if (ready !== 200) await new Promise((resolve) => setTimeout(resolve, 50));
      }
      assert.equal(ready, 200, `/readyz answered 200:\n${output}`);
    },
    stop: () => child.kill('SIGTERM'),
    exited,
    output: () => output,
  };
}
