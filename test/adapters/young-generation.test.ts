import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { needsRestart, YOUNG_GENERATION_FLAG } from '../../src/adapters/node/young-generation.ts';
import { killOnExit, removeOnExit } from '../support/exit-cleanup.ts';
import { becameHealthy, freePort, startServer } from '../support/server-process.ts';

/**
 * The server caps V8's young generation however it is started (src/adapters/node/young-generation.ts):
 * without the cap, a burst of open event streams grows it to 64 MiB per semi-space on this machine,
 * and the process keeps that memory (`npm run bench`: 38–40 KiB per idle stream against 25–26 KiB).
 * What an operator sees is the process they started (same PID) running with the flag.
 */

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'key2oauth.js');

function nodeFlagsOf(pid: number): string[] {
  const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  return argv.slice(1).filter((arg) => arg.startsWith('--'));
}

test("npm start's entry serves from the process it was started as, with the young generation capped", async () => {
  const server = await startServer();
  try {
    assert.ok(nodeFlagsOf(server.pid).includes(YOUNG_GENERATION_FLAG), `flags: ${nodeFlagsOf(server.pid).join(' ')}`);
    assert.equal((await fetch(`${server.url}/healthz`)).status, 200);
  } finally {
    assert.equal(await server.stop(), 0, 'SIGTERM still stops it cleanly');
  }
});

test('key2oauth serve caps it too (each cluster worker: test/e2e/workers-setting.test.ts)', async () => {
  const port = await freePort();
  const dataDir = removeOnExit(mkdtempSync(join(tmpdir(), 'key2oauth-young-')));
  const child = spawn(process.execPath, [BIN, 'serve'], {
    env: { PATH: process.env.PATH ?? '', PORT: String(port), DATA_DIR: dataDir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  killOnExit(child);
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  try {
    assert.ok(await becameHealthy(`http://127.0.0.1:${port}`, child), `the server answered /healthz:\n${output}`);
    assert.ok(nodeFlagsOf(child.pid!).includes(YOUNG_GENERATION_FLAG), `flags: ${nodeFlagsOf(child.pid!).join(' ')}`);
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
});

test("an operator's own size in NODE_OPTIONS is kept", async () => {
  const server = await startServer({ NODE_OPTIONS: '--max-semi-space-size=32' });
  try {
    assert.deepEqual(nodeFlagsOf(server.pid), [], 'not restarted with ours');
    assert.equal((await fetch(`${server.url}/healthz`)).status, 200);
  } finally {
    await server.stop();
  }
});

test('which starts need the restart: none already sized, none under a debugger', () => {
  assert.equal(needsRestart([], undefined, false), true);
  assert.equal(needsRestart(['--import', './x.ts'], '--enable-source-maps', false), true);
  assert.equal(needsRestart(['--max-semi-space-size=8'], undefined, false), false);
  assert.equal(needsRestart([], '--max-old-space-size=512 --max-semi-space-size=64', false), false);
  assert.equal(needsRestart([], '--max-semi-space-size 64', false), false);
  assert.equal(needsRestart([], '--max-semi-space-sizes=1', false), true, 'only the flag itself counts');
  assert.equal(needsRestart(['--max-semi-space-sizes=1'], undefined, false), true, 'in the flags too');
  assert.equal(needsRestart([], undefined, true), false, 'a debugger session would be lost');
});
