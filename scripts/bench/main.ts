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
 *
 * Figures are absolute and as ratios to direct and to nginx; with several rounds each is the
 * median, with the spread (min–max) across rounds. Not a test: it prints, it never fails on a number.
 */
import { availableParallelism } from 'node:os';
import { type Figure, measureRound, measureThroughput, type RoundOptions } from './measure.ts';
import { report, toJson } from './report.ts';
import { direct, NGINX, type Started, startKey2OAuth, startNginx, startUpstream } from './targets.ts';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const json = args.includes('--json');
const roundsArg = args.indexOf('--rounds');
const profileArg = args.indexOf('--cpu-prof');
const nodeArgs = profileArg >= 0 ? ['--cpu-prof', '--cpu-prof-dir', String(args[profileArg + 1])] : [];
const rounds = roundsArg >= 0 ? Number(args[roundsArg + 1]) : quick ? 1 : 3;

const options: RoundOptions = quick
  ? { seconds: 0.5, sseStreams: 3, sseEvents: 10, idleCounts: [100, 500], disconnects: 3 }
  : { seconds: 2, sseStreams: 10, sseEvents: 20, idleCounts: [500, 5000], disconnects: 10 };

const log = (line: string) => (json ? process.stderr : process.stdout).write(`${line}\n`);

const upstream = await startUpstream();
const started: Started[] = [direct(upstream)];
const notes: string[] = [];
try {
  const nginx = await startNginx(upstream, 1);
  if (nginx) started.push(nginx);
  else notes.push('nginx is not installed (apt-get install -y nginx-light): its column is empty');
  started.push(await startKey2OAuth(upstream, {}, { nodeArgs }));
  log(`bench: ${rounds} round(s), ${started.map((t) => t.name).join(', ')}; node ${process.version}${NGINX ? `, ${NGINX}` : ''}`);

  const perRound: Figure[][] = [];
  for (let round = 0; round < rounds; round++) {
    // Rotate the order so no target always runs first (cold) or last.
    const order = started.map((_, i) => started[(i + round) % started.length]!);
    perRound.push(await measureRound(order, upstream, options, (line) => log(`  round ${round + 1}: ${line}`)));
  }
  // All cores against all cores: nginx `worker_processes auto` and Key2OAuth `WORKERS=auto`.
  const allCores: Started[] = [direct(upstream)];
  const allCoreRounds: Figure[][] = [];
  try {
    const nginxAll = await startNginx(upstream, 'auto');
    if (nginxAll) allCores.push(nginxAll);
    allCores.push(await startKey2OAuth(upstream, { WORKERS: 'auto' }));
    for (let round = 0; round < rounds; round++) {
      const order = allCores.map((_, i) => allCores[(i + round) % allCores.length]!);
      allCoreRounds.push(await measureThroughput(order, options.seconds));
      log(`  round ${round + 1}: all cores`);
    }
  } finally {
    for (const target of allCores) await target.stop();
  }

  if (json) {
    const output = {
      ...toJson(perRound, started, notes, { rounds, quick }),
      allCores: toJson(allCoreRounds, allCores, [], { rounds, quick }).figures,
    };
    process.stdout.write(`${JSON.stringify(output, null, 2)}\n`);
  } else {
    log(report(perRound, started, notes));
    log(
      `\nall cores (${availableParallelism()}): nginx worker_processes auto, Key2OAuth WORKERS=auto${report(allCoreRounds, allCores, [], false)}`,
    );
  }
} finally {
  for (const target of started.reverse()) await target.stop();
  await upstream.stop();
}
