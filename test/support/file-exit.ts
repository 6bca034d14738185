import { after } from 'node:test';

/**
 * Loaded into every test file's process by test/run.ts (`--import`), in place of node:test's
 * `--test-force-exit`. That flag ends a file's process the moment its last test has ended, and
 * under process isolation the verdicts not yet written to the runner are lost with it
 * (nodejs/node#64833): a run could count fewer tests than ran and still close with `0 failed`.
 *
 * Here a file's process ends by itself once nothing keeps it busy, as a Node process does, with
 * every verdict written. Only a file whose tests left a handle open (a server, a timer, a socket)
 * would stay alive for ever: a second after its last test, with its output long written, it is
 * ended, keeping the exit code node:test set for its verdicts. The timer is unref'd, so it delays
 * no file that ends by itself.
 */
const LINGER_MS = 1_000;

// Only in a file's own process (node:test runs each file in a child that reports to the runner as
// `child-v8`), not in the runner's parent process, which ends by itself when its children have.
// (`--test-isolation=none` runs every file in one process that writes the verdicts itself, where
// an exit from here would come before its closing summary: run.ts keeps `--test-force-exit` there.)
if (process.env.NODE_TEST_CONTEXT === 'child-v8') after(() => void setTimeout(() => process.exit(), LINGER_MS).unref());
