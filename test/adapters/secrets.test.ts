import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { loadOrCreateSecret } from '../../src/adapters/node/secrets.ts';
import { ConfigError } from '../../src/config.ts';
import { startServer } from '../support/server-process.ts';

/** The Node server's generated secret (`DATA_DIR/secret.key`): created once, and never used weak or empty. */

const dirs: string[] = [];
const dataDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'key2oauth-secret-'));
  dirs.push(dir);
  return dir;
};
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

test('a missing secret.key is generated (32 random bytes) and then reused', () => {
  const dir = dataDir();
  const first = loadOrCreateSecret(dir);
  assert.equal(Buffer.from(first, 'base64url').length, 32);
  assert.equal(loadOrCreateSecret(dir), first);
});

test('an empty secret.key (a crash between creating and writing it) is replaced, never used', () => {
  for (const content of ['', '\n', '   \n']) {
    const dir = dataDir();
    writeFileSync(join(dir, 'secret.key'), content);
    const secret = loadOrCreateSecret(dir);
    assert.equal(Buffer.from(secret, 'base64url').length, 32);
    assert.equal(readFileSync(join(dir, 'secret.key'), 'utf8').trim(), secret);
  }
});

test('a weak secret.key stops start-up with a message naming the file, never the value', () => {
  for (const weak of ['short', 'a'.repeat(64), 'deadbeefdeadbeefdeadbeefdeadbeef']) {
    const dir = dataDir();
    writeFileSync(join(dir, 'secret.key'), `${weak}\n`);
    assert.throws(
      () => loadOrCreateSecret(dir),
      (error: Error) =>
        error instanceof ConfigError &&
        /secret\.key must hold at least 32 random bytes/.test(error.message) &&
        !error.message.includes(weak),
    );
    assert.equal(readFileSync(join(dir, 'secret.key'), 'utf8'), `${weak}\n`, 'the operator’s file is left as it was');
  }
  const dir = dataDir();
  const strong = randomBytes(32).toString('hex');
  writeFileSync(join(dir, 'secret.key'), strong);
  assert.equal(loadOrCreateSecret(dir), strong, 'a strong secret in another encoding is kept');
});

test('the server process refuses to start on a weak secret.key and says why', async () => {
  const dir = dataDir();
  writeFileSync(join(dir, 'secret.key'), 'not-random-enough-not-random-enough\n');
  const server = await startServer({}, { dataDir: dir }).catch((error: Error) => error);
  if (!(server instanceof Error)) {
    await server.stop();
    assert.fail('the server started on a weak secret');
  }
  assert.match(server.message, /exited early:[\s\S]*secret\.key must hold at least 32 random bytes/);
});
