import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { becameHealthy, freePort } from '../support/server-process.ts';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'key2oauth.js');

/** The machine's own `node`, not the project's pinned one: what a user's shell finds first. */
function systemNode(): string {
  const path = (process.env.PATH ?? '')
    .split(':')
    .filter((dir) => !dir.includes('node_modules'))
    .join(':');
  return spawnSync('sh', ['-c', 'command -v node'], { env: { PATH: path }, encoding: 'utf8' }).stdout.trim() || process.execPath;
}

function cli(args: string[], node = process.execPath) {
  return spawnSync(node, [BIN, ...args], { encoding: 'utf8', timeout: 30_000, env: { PATH: process.env.PATH ?? '' } });
}

test('key2oauth --help lists the commands and exits 0; no command is a usage error (2)', () => {
  const help = cli(['--help']);
  assert.equal(help.status, 0);
  assert.match(help.stdout, /serve\s+run the server/);
  assert.equal(cli([]).status, 2);
});

test('an unknown command or a stray argument exits 2 with a message', () => {
  const unknown = cli(['frobnicate']);
  assert.equal(unknown.status, 2);
  assert.match(unknown.stderr, /unknown command "frobnicate"/);
  const stray = cli(['serve', '--port', '1']);
  assert.equal(stray.status, 2);
  assert.match(stray.stderr, /serve takes no arguments/);
});

test('key2oauth serve, started by the system Node, runs the server on the project Node and stops with it; its start-up says nothing about wrangler.jsonc', async () => {
  const node = systemNode();
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'key2oauth-cli-'));
  const child = spawn(node, [BIN, 'serve'], {
    env: { PATH: process.env.PATH ?? '', PORT: String(port), DATA_DIR: dataDir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  try {
    assert.ok(await becameHealthy(`http://127.0.0.1:${port}`, child, 10_000), `the server answered /healthz when started by ${node}`);
    child.kill('SIGTERM');
    const code = await new Promise((resolve) => child.once('exit', (exitCode) => resolve(exitCode)));
    assert.equal(code, 0, 'SIGTERM is a clean stop');
    const after = await fetch(`http://127.0.0.1:${port}/healthz`).then(
      () => 'still answering',
      () => 'stopped',
    );
    assert.equal(after, 'stopped', 'the server process went down with the command');
    assert.match(output, /listening/i, 'the start-up line was captured');
    assert.doesNotMatch(output, /wrangler\.jsonc|compatibility_flags/, 'the engine’s Workers-only advice is not printed on Node');
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  }
});
