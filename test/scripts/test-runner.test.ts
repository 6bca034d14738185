import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { removeOnExit } from '../support/exit-cleanup.ts';

/**
 * `npm test`'s runner (test/run.ts): CI reads its closing line, so that line has to count every
 * test that ran, and no test file may hold the run up.
 */
const fixtures = join(import.meta.dirname, 'runner-fixtures');

function runTests(files: string[], extraEnv: Record<string, string> = {}) {
  const started = Date.now();
  // Without this file's own test-runner context, which would make the nested run refuse to start.
  const { NODE_TEST_CONTEXT: _, ...env } = process.env;
  const run = spawnSync(process.execPath, ['test/run.ts', ...files], { encoding: 'utf8', env: { ...env, ...extraEnv }, timeout: 90_000 });
  const lines = run.stdout.trimEnd().split('\n');
  return { closing: lines.at(-1), status: run.status, ms: Date.now() - started, output: run.stdout + run.stderr };
}

test('every verdict of files run side by side reaches the closing line, in every run', () => {
  // Twelve copies of 40 quick tests, run in parallel processes: with the test runner's
  // --test-force-exit, a file's last verdicts were lost in about half of such runs
  // (nodejs/node#64833), while the closing line still said `0 failed`.
  const dir = removeOnExit(mkdtempSync(join(tmpdir(), 'key2oauth-runner-')));
  const files = Array.from({ length: 12 }, (_, i) => {
    const file = join(dir, `many-${i}.ts`);
    copyFileSync(join(fixtures, 'many.ts'), file);
    return file;
  });
  for (let round = 0; round < 4; round++) {
    const run = runTests(files);
    assert.equal(run.closing, '480 passed, 0 failed', `round ${round}:\n${run.output.slice(-2_000)}`);
    assert.equal(run.status, 0);
  }
});

test('a file that leaves a server or a timer behind still ends, its verdicts counted and its slow last hook run to its end', () => {
  const mark = join(removeOnExit(mkdtempSync(join(tmpdir(), 'key2oauth-runner-'))), 'after-hook');
  const run = runTests([join(fixtures, 'leaks.ts')], { K2O_FIXTURE_AFTER_MARK: mark });
  assert.equal(run.closing, '2 passed, 0 failed', run.output.slice(-2_000));
  assert.equal(run.status, 0);
  assert.equal(readFileSync(mark, 'utf8'), 'ran to its end');
  // Held up by its handles, the file would end only with the whole run's 25-minute timeout.
  assert.ok(run.ms < 30_000, `took ${run.ms} ms`);
});
