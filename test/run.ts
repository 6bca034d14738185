/**
 * `npm test`'s runner: every test file under test/, on the Node that npm put on PATH, with the
 * `cloudflare:workers` hook loaded, a readable spec report, and the closing `N passed, N failed`.
 * Arguments narrow the run: `npm test -- test/e2e` runs one folder.
 */
import { spawnSync } from 'node:child_process';

const patterns = process.argv.slice(2).map((arg) => (arg.endsWith('.ts') ? arg : `${arg.replace(/\/$/, '')}/**/*.test.ts`));
const result = spawnSync(
  process.execPath,
  [
    '--import', './src/adapters/node/hooks.ts',
    '--test',
    '--test-reporter=spec', '--test-reporter-destination=stdout',
    '--test-reporter=./test/support/summary-reporter.ts', '--test-reporter-destination=stdout',
    ...(patterns.length ? patterns : ['test/**/*.test.ts']),
  ],
  { stdio: 'inherit' },
);
process.exit(result.status ?? 1);
