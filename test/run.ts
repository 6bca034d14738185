/**
 * `npm test`'s runner: every test file under test/, on the Node that npm put on PATH, with the
 * `cloudflare:workers` hook loaded, a readable spec report, and the closing `N passed, N failed`
 * (counted by test/support/summary-reporter.ts's rules), which is always the last line printed:
 * CI reads it.
 * Arguments narrow the run: `npm test -- test/e2e` runs one folder, `npm test -- test/e2e/core.test.ts`
 * one file.
 *
 * Nothing may hang the run:
 * - every test and every hook fails after TEST_TIMEOUT_MS, 2 minutes (`--test-timeout`);
 * - a test file's process exits a second after it has reported its last test and run its last
 *   hook, even if a leaked handle (a socket, a timer) would keep it alive (test/support/file-exit.ts;
 *   not node's `--test-force-exit`, which can lose a file's last verdicts; that flag stays only
 *   for `--test-isolation=none`, where one process runs every file); on that exit, servers and other
 *   processes the tests started and never stopped are killed (test/support/exit-cleanup.ts);
 * - the whole run is bounded by RUN_TIMEOUT_MS (env TEST_RUN_TIMEOUT_MS overrides it): past it,
 *   the runner and every process below it are killed, and the closing line counts the tests that
 *   had finished plus one failure for the unfinished run. Ctrl-C and SIGTERM end it the same way.
 *
 * `--coverage`: every Node process of the run writes V8 coverage (NODE_V8_COVERAGE), the test
 * files' own and the servers they spawn (test/support/server-process.ts passes it on), and c8
 * prints a summary over src/ before the closing line.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { processes } from './support/proc.ts';
import { type Outcome, summaryLine } from './support/summary-reporter.ts';

/**
 * Per test and per hook (env TEST_TIMEOUT_MS overrides it). The slowest honest ones take about
 * 15 s (a wrangler deploy against the fake API; a `before` that starts `wrangler dev` takes 4-10 s,
 * more on a loaded machine); the helpers' own deadlines (60 s for wrangler dev to answer, 20 s for
 * the server, 60 s for an MCP request) must run out first, so their messages say what hung.
 */
const TEST_TIMEOUT_MS = Number(process.env.TEST_TIMEOUT_MS) || 120_000;
/** The whole run: about 6 minutes when all is well on two cores; CI allows 90. */
const RUN_TIMEOUT_MS = Number(process.env.TEST_RUN_TIMEOUT_MS) || 25 * 60_000;

const args = process.argv.slice(2);
const coverage = args.includes('--coverage');
// Other `--` arguments go to node's test runner: `--test-isolation=none` runs every file in this
// one process, which `npm run test:fast` uses for the suites that start no server.
const options = args.filter((arg) => arg.startsWith('--') && arg !== '--coverage');
const patterns = args
  .filter((arg) => !arg.startsWith('--'))
  .map((arg) => (arg.endsWith('.ts') ? arg : `${arg.replace(/\/$/, '')}/**/*.test.ts`));

const work = mkdtempSync(join(tmpdir(), 'key2oauth-run-'));
const progressFile = join(work, 'progress.txt');
// A NODE_V8_COVERAGE set by the caller (c8 around this runner, or someone who wants the raw
// data) is used as it is and left in place; otherwise the data lives and dies with this run.
const coverageDir = process.env.NODE_V8_COVERAGE || join(work, 'coverage');

const child = spawn(
  process.execPath,
  [
    '--import',
    './src/adapters/node/hooks.ts',
    ...(options.includes('--test-isolation=none') ? ['--test-force-exit'] : ['--import', './test/support/file-exit.ts']),
    '--test',
    `--test-timeout=${TEST_TIMEOUT_MS}`,
    ...options,
    '--test-reporter=spec',
    '--test-reporter-destination=stdout',
    // Each test's outcome as it ends, then the closing line, which is kept back to be printed last
    // (after the coverage report); a run that has to be killed is summed up from the outcomes.
    '--test-reporter=./test/support/progress-reporter.ts',
    `--test-reporter-destination=${progressFile}`,
    ...(patterns.length ? patterns : ['test/**/*.test.ts']),
  ],
  { stdio: 'inherit', env: coverage ? { ...process.env, NODE_V8_COVERAGE: coverageDir } : process.env },
);

let stoppedBecause: string | undefined;
const stop = (reason: string) => {
  // Once the runner has exited (and been reaped) its pid is no longer ours to kill.
  if (stoppedBecause || child.exitCode !== null || child.signalCode !== null) return;
  stoppedBecause = reason;
  killTree(child.pid!);
};
const timer = setTimeout(() => stop(`the run did not finish within ${RUN_TIMEOUT_MS / 60_000} minutes`), RUN_TIMEOUT_MS);
process.on('SIGINT', () => stop('interrupted (SIGINT)'));
process.on('SIGTERM', () => stop('terminated (SIGTERM)'));

const status = await new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
clearTimeout(timer);

const lines = readText(progressFile).split('\n').filter(Boolean);
const summary = lines.at(-1)?.match(/^\d+ passed, \d+ failed/) ? lines.at(-1)! : undefined;
let closing: string;
let exitCode: number;
if (!stoppedBecause && summary) {
  closing = summary;
  exitCode = status ?? 1;
  if (coverage) reportCoverage();
} else {
  const counts: Record<Outcome, number> = { passed: 0, failed: 0, skipped: 0 };
  for (const line of lines) if (Object.hasOwn(counts, line)) counts[line as Outcome]++;
  counts.failed++;
  const why = stoppedBecause ?? `the test runner ended without its summary (exit code ${status})`;
  process.stdout.write(`\n✖ ${why}: it and every process it started were stopped. The unfinished run counts as one failed test.\n`);
  closing = summaryLine(counts);
  exitCode = 1;
}
rmSync(work, { recursive: true, force: true });
process.stdout.write(`\n${closing}\n`);
process.exit(exitCode);

function readText(path: string): string {
  return existsSync(path) ? readFileSync(path, 'utf8') : '';
}

/**
 * A text summary over src/, from every process of the run, servers included. Not covered, and so
 * left out: src/adapters/cloudflare/, the Worker's own code. It runs only in workerd (under
 * `wrangler dev` in test/workers and the e2e suites), whose V8 hands no coverage to Node.
 */
function reportCoverage() {
  const c8 = join('node_modules', 'c8', 'bin', 'c8.js');
  spawnSync(
    process.execPath,
    [
      c8,
      'report',
      '--temp-directory',
      coverageDir,
      '--reports-dir',
      join(work, 'report'),
      '--reporter',
      'text-summary',
      '--all',
      '--include',
      'src/**',
      '--exclude',
      'src/adapters/cloudflare/**',
      '--exclude-node-modules',
    ],
    { stdio: 'inherit' },
  );
}

/**
 * Stops `root` and every process below it (Linux: found through /proc). Each is stopped with
 * SIGSTOP before any is killed, so none can start another, or reap one and let it slip to init,
 * while the tree is being read; then all get SIGKILL. Processes in their own process group
 * (wrangler and its workerd) are below it too, so they go as well.
 */
function killTree(root: number) {
  if (!existsSync('/proc/self/stat')) {
    child.kill('SIGKILL');
    return;
  }
  const stopped = new Set<number>();
  for (let round = 0; round < 10; round++) {
    const found = [root, ...descendants(root)].filter((pid) => !stopped.has(pid));
    if (found.length === 0) break;
    for (const pid of found) {
      stopped.add(pid);
      try {
        process.kill(pid, 'SIGSTOP');
      } catch {}
    }
  }
  for (const pid of stopped) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {}
  }
}

function descendants(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const { pid, ppid } of processes()) children.set(ppid, [...(children.get(ppid) ?? []), pid]);
  const found: number[] = [];
  const queue = [root];
  while (queue.length) {
    for (const pid of children.get(queue.shift()!) ?? []) {
      found.push(pid);
      queue.push(pid);
    }
  }
  return found;
}
