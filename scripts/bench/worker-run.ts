/**
 * The Worker run (`npm run bench -- --worker [--seed DIR]`): our Worker under `wrangler dev` beside
 * the upstream reached directly, a passthrough Worker (the runtime's own floor) and, given a
 * checkout of the seed, the seed's Worker as published and with its endpoint-record reads
 * memoized (seed-memo-worker.ts), all on the same workerd, in interleaved rounds.
 * Request/response figures only: latency at concurrency 1, throughput and p99 at 16 and 64, and
 * CPU per request of the workerd processes (CPU time is what Cloudflare bills and the free plan caps). Streams are left to the Node run: under `wrangler dev`, workerd's
 * local listener does not notice a silent client leave (test/support/targets.ts), so idle-stream
 * and disconnect figures would describe the local listener, not the Worker.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import type { BenchRun } from './bench-run.ts';
import { closedLoop } from './load.ts';
import { type Figure, measureRequests } from './measure.ts';
import { startPassthrough } from './passthrough-target.ts';
import { report, toJson, WORKER_REPORT } from './report.ts';
import { SEED_HINT, startSeed } from './seed-target.ts';
import { direct, type Started, startUpstream } from './targets.ts';
import { profileWorker } from './worker-profile.ts';
import { startOurWorker } from './worker-target.ts';

export async function runWorkerBench(run: BenchRun, seedDir: string | undefined, profileDir?: string): Promise<void> {
  const { rounds, quick, json, log } = run;
  const upstream = await startUpstream();
  const started: Started[] = [direct(upstream)];
  const notes: string[] = [];
  try {
    started.push(await startPassthrough(upstream));
    started.push(await startOurWorker(upstream));
    if (seedDir) {
      started.push(await startSeed(upstream, seedDir, log));
      // Issue 24's bar: the seed's design with its endpoint-record reads kept in memory.
      started.push(await startSeed(upstream, seedDir, log, { memoized: true }));
    } else notes.push(SEED_HINT);
    const loadBefore = loadAverage();
    log(
      `bench --worker: ${rounds} round(s), ${started.map((t) => t.name).join(', ')}; wrangler ${version('wrangler')}, workerd ${version('workerd')}; load average ${loadBefore}`,
    );

    const perRound: Figure[][] = [];
    for (let round = 0; round < rounds; round++) {
      // Rotate the order so no target always runs first (cold) or last.
      const order = started.map((_, i) => started[(i + round) % started.length]!);
      const errors = new Map<string, number>();
      const figures = await measureRequests(order, run.seconds, (line) => log(`  round ${round + 1}: ${line}`), errors);
      for (const target of started) figures.push({ key: 'errors', target: target.name, value: errors.get(target.name) ?? 0 });
      perRound.push(figures);
    }
    const loadAfter = loadAverage();
    // After the rounds, so the profiler's own cost touches no figure: one more c16 run per Worker.
    if (profileDir) {
      mkdirSync(profileDir, { recursive: true });
      for (const target of started) {
        if (!target.inspectorPort) continue;
        const file = join(profileDir, `${target.name}.cpuprofile`);
        await profileWorker(target.inspectorPort, file, () => closedLoop(target.endpoint, 16, run.seconds));
        log(`  profile of ${target.name}: ${file} (node scripts/bench/profile-top.ts ${file})`);
      }
    }
    notes.push(
      `CPU per request is utime+stime of the workerd processes in wrangler's group over the requests completed at c16; "the Worker's own workerd" leaves out wrangler's proxy in front of it, and still holds miniflare's local KV and the HTTP work that Cloudflare does not bill`,
      `load average (1, 5, 15 min) before ${loadBefore}, after ${loadAfter}`,
    );

    if (json) {
      process.stdout.write(
        `${JSON.stringify(toJson(perRound, started, notes, { rounds, quick, worker: true, seed: Boolean(seedDir) }), null, 2)}\n`,
      );
    } else log(report(perRound, started, notes, WORKER_REPORT));
  } finally {
    for (const target of started.reverse()) await target.stop();
    await upstream.stop();
  }
}

function version(name: string): string {
  const file = resolve(import.meta.dirname, '../../node_modules', name, 'package.json');
  return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
}

function loadAverage(): string {
  return loadavg()
    .map((value) => value.toFixed(2))
    .join(', ');
}
