/**
 * `npm run bench`: Key2OAuth side by side with the upstream reached directly and with nginx
 * injecting the same header, in one interleaved run (each round measures every figure on every
 * target in turn, the order rotating, so drift in the machine's load touches all alike).
 *
 *   npm run bench                 3 rounds, the full figures (a few minutes)
 *   npm run bench -- --quick      1 short round with small stream counts (a smoke run, ~20 s)
 *   npm run bench -- --json       the figures as JSON on stdout
 *   npm run bench -- --rounds 5
 *   npm run bench -- --cpu-prof DIR   Key2OAuth writes a V8 CPU profile to DIR when it stops
 *                                     (read it with scripts/bench/profile-top.ts)
 *   npm run bench -- --worker [--seed DIR]
 *                                 our Worker under `wrangler dev` instead, beside direct and, given a
 *                                 checkout of the seed (t0saki/MCP-Key2OAuth) in DIR, the seed's
 *                                 Worker on the same workerd: latency, throughput and workerd CPU
 *                                 per request (worker-run.ts); with --cpu-prof DIR, a V8 profile
 *                                 of each Worker's isolate after the rounds (worker-profile.ts)
 *   npm run bench -- --alloc      bytes allocated per message, the node floor beside Key2OAuth, and
 *                                 where Key2OAuth allocates them (alloc-run.ts): steadier than CPU
 *                                 time on a shared machine, so the figure to judge a small change by
 *   npm run bench -- --instructions   instructions, cache misses and mispredicted branches per message,
 *                                 counted by valgrind's callgrind, the node floor beside Key2OAuth,
 *                                 and where Key2OAuth executes more (instructions-run.ts): barely
 *                                 moved by the machine's load, so the figure to judge a CPU change by
 *   npm run bench -- --scale      how cost grows: 10, 1,000 and 100,000 endpoints and grants on SQLite
 *                                 and Redis, 10, 1,000 and 10,000 open streams; p50, CPU per message,
 *                                 memory and store bytes per grant at each size (scale-run.ts)
 *
 * Figures are absolute and as ratios to the others; with several rounds each is the median, with
 * the spread (min–max) across rounds. Not a test: it prints, it never fails on a number.
 */
import { resolve } from 'node:path';
import { runAllocBench } from './alloc-run.ts';
import type { BenchRun } from './bench-run.ts';
import { runInstructionsBench, valgrindProblem } from './instructions-run.ts';
import { runNodeBench } from './node-run.ts';
import { runScaleBench } from './scale-run.ts';
import { seedCheckoutProblem } from './seed-target.ts';
import { runWorkerBench } from './worker-run.ts';

/** What every run shares: how long, how many rounds, where the figures go. */
const USAGE =
  'usage: npm run bench -- [--quick] [--json] [--rounds N] [--cpu-prof DIR] [--worker [--seed DIR] | --scale | --alloc | --instructions]';

function fail(message: string): never {
  process.stderr.write(`bench: ${message}\n${USAGE}\n`);
  process.exit(2);
}

const args = process.argv.slice(2);
const valued = new Map<string, string>();
const flags = new Set<string>();
for (let i = 0; i < args.length; i++) {
  const arg = args[i]!;
  if (arg === '--rounds' || arg === '--cpu-prof' || arg === '--seed') {
    const value = args[++i];
    if (value === undefined || value.startsWith('--')) fail(`${arg} needs a value`);
    valued.set(arg, value);
  } else if (
    arg === '--quick' ||
    arg === '--json' ||
    arg === '--worker' ||
    arg === '--scale' ||
    arg === '--alloc' ||
    arg === '--instructions'
  )
    flags.add(arg);
  else fail(`unknown argument ${JSON.stringify(arg)}`);
}
const quick = flags.has('--quick');
const worker = flags.has('--worker');
const rounds = valued.has('--rounds') ? Number(valued.get('--rounds')) : quick ? 1 : 3;
if (!Number.isInteger(rounds) || rounds < 1) fail(`--rounds must be a whole number of at least 1 (got ${valued.get('--rounds')})`);
if (valued.has('--seed') && !worker) fail('--seed compares Workers: give it with --worker');
const scale = flags.has('--scale');
if (scale && worker) fail('--scale measures the Node server: give it without --worker');
const alloc = flags.has('--alloc');
if (alloc && (worker || scale)) fail('--alloc measures the Node server alone: give it without --worker or --scale');
if (alloc && flags.has('--json')) fail('--alloc prints a table and the allocating functions; it has no --json form');
const instructions = flags.has('--instructions');
if (instructions && (worker || scale || alloc))
  fail('--instructions measures the Node server alone: give it without --worker, --scale or --alloc');
if (instructions && flags.has('--json')) fail('--instructions prints a table and the functions; it has no --json form');
const noValgrind = instructions ? valgrindProblem() : undefined;
if (noValgrind) fail(noValgrind);

// npm runs scripts in the package's folder; a relative path means the folder the user typed it in.
const fromUser = (flag: string) => (valued.has(flag) ? resolve(process.env.INIT_CWD ?? process.cwd(), valued.get(flag)!) : undefined);
const seedDir = fromUser('--seed');
const profileDir = fromUser('--cpu-prof');
const seedProblem = seedDir && seedCheckoutProblem(seedDir);
if (seedProblem) fail(seedProblem);

// Ctrl-C or a kill ends the run through process.exit, whose handlers (test/support/exit-cleanup.ts)
// kill what the bench registered: wrangler runs in process groups of its own, which a terminal's
// Ctrl-C does not reach, so without this its workerd processes would outlive the bench.
for (const [signal, code] of [
  ['SIGINT', 130],
  ['SIGTERM', 143],
] as const) {
  process.once(signal, () => process.exit(code));
}

const json = flags.has('--json');
const run: BenchRun = {
  rounds,
  quick,
  // A request through `wrangler dev` takes tens of milliseconds, and at concurrency 64 most of a
  // second: half-second windows would count a handful of requests.
  seconds: worker ? (quick ? 1 : 3) : quick ? 0.5 : 2,
  json,
  log: (line) => (json ? process.stderr : process.stdout).write(`${line}\n`),
};
const nodeArgs = profileDir ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : [];
if (worker) await runWorkerBench(run, seedDir, profileDir);
else if (alloc) await runAllocBench(run);
else if (instructions) await runInstructionsBench(run);
else if (scale) await runScaleBench(run, nodeArgs);
else await runNodeBench(run, nodeArgs);
