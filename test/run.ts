/**
 * `npm test`'s runner: every test file under test/, on the Node that npm put on PATH, with the
 * `cloudflare:workers` hook loaded, a readable spec report, and the closing `N passed, N failed`.
 * Arguments narrow the run: `npm test -- test/e2e` runs one folder. Arguments that start with `--`
 * go to the test runner: `--test-isolation=none` runs every file in this one process (no process
 * per file), which `npm run test:fast` uses for the suites that start no server.
 */
import { spawnSync } from 'node:child_process';

const args = process.argv.slice(2);
const options = args.filter((arg) => arg.startsWith('--'));
const patterns = args
  .filter((arg) => !arg.startsWith('--'))
  .map((arg) => (arg.endsWith('.ts') ? arg : `${arg.replace(/\/$/, '')}/**/*.test.ts`));
const result = spawnSync(
  process.execPath,
  [
    '--import',
    './src/adapters/node/hooks.ts',
    '--test',
    ...options,
    '--test-reporter=spec',
    '--test-reporter-destination=stdout',
    '--test-reporter=./test/support/summary-reporter.ts',
    '--test-reporter-destination=stdout',
    ...(patterns.length ? patterns : ['test/**/*.test.ts']),
  ],
  { stdio: 'inherit' },
);
process.exit(result.status ?? 1);
