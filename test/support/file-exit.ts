import { createRequire, syncBuiltinESMExports } from 'node:module';

/**
 * Loaded into every test file's process by test/run.ts (`--import`), in place of node:test's
 * `--test-force-exit`. That flag also makes the runner's parent process exit as soon as the last
 * file has ended, and the verdicts of a file it had not yet read from that file's pipe are lost
 * (nodejs/node#64833): a run could count fewer tests than ran and still close with `0 failed`.
 *
 * What the flag is for stays, in each file's own process only: a file whose tests left a handle
 * open (a server, a timer, a socket) would otherwise keep its process, and the whole run, alive for
 * ever. Such a process is ended a second after its tests and its `after` hooks are done, with the
 * exit code node:test set for its verdicts (each verdict went to the pipe as its test ended: the
 * write is synchronous on Linux). The timer is unref'd: a process that ends by itself ends at once.
 *
 * node:test runs a file's top-level `after` hooks one after another, this module's first (it is
 * registered before the file is loaded), and says nothing when the last is done: so every `after`
 * hook is counted while it runs, and the process is not ended while one is still running (a hook
 * that stops a server or a container may take seconds), up to the hook timeout.
 */
const LINGER_MS = 1_000;
/**
 * A hook still running after this long has outlived node:test's own hook timeout: the
 * `--test-timeout` test/run.ts sets, which this process inherits (node's default is none).
 */
const testTimeout = process.execArgv.findLast((arg) => arg.startsWith('--test-timeout='));
const HOOKS_AT_MOST_MS = (testTimeout ? Number(testTimeout.slice('--test-timeout='.length)) : Number.POSITIVE_INFINITY) + 10_000;

// Only in a file's own process (node:test runs each file in a child that reports to the runner as
// `child-v8`), not in the runner's parent process. (`--test-isolation=none` runs every file in one
// process that reports without a pipe: there run.ts keeps `--test-force-exit`.)
if (process.env.NODE_TEST_CONTEXT === 'child-v8') {
  const nodeTest = createRequire(import.meta.url)('node:test') as typeof import('node:test');
  const original = nodeTest.after;
  let running = 0;
  // `after` and `test.after` are one property of the module (the `test` function); the files'
  // `import { after } from 'node:test'` sees the counted one once the ESM exports are synced.
  const counted = ((fn: (...args: unknown[]) => unknown, options?: unknown) => {
    // A hook that takes node:test's `done` callback (two parameters) keeps that form.
    const hook =
      fn.length >= 2
        ? (context: unknown, done: (error?: unknown) => void) => {
            running++;
            let ended = false;
            const end = () => {
              if (!ended) running--;
              ended = true;
            };
            try {
              fn(context, (error?: unknown) => {
                end();
                done(error);
              });
            } catch (error) {
              // Thrown before it called back: node:test reports it, and the hook is no longer running.
              end();
              throw error;
            }
          }
        : async (...args: unknown[]) => {
            running++;
            try {
              return await fn(...args);
            } finally {
              running--;
            }
          };
    return original(hook as never, options as never);
  }) as typeof original;
  nodeTest.after = counted;
  syncBuiltinESMExports();

  original(() => {
    const since = Date.now();
    const check = () => {
      if (running > 0 && Date.now() - since < HOOKS_AT_MOST_MS) setTimeout(check, LINGER_MS).unref();
      else process.exit();
    };
    setTimeout(check, LINGER_MS).unref();
  });
}
