/**
 * The Node run: Key2OAuth's server beside the upstream reached directly and nginx injecting the
 * same header, every figure of issue #12 (latency, throughput, CPU, SSE, idle streams, a client
 * leaving), with a second access on the same process restricted to the called tool
 * (`key2oauth-tools`), then all cores against all cores.
 */
import { availableParallelism } from 'node:os';
import type { BenchRun } from './bench-run.ts';
import { type Figure, measureRound, measureThroughput, type RoundOptions } from './measure.ts';
import { NODE_REPORT, report, toJson } from './report.ts';
import { direct, NGINX, type Started, startKey2OAuth, startNginx, startNodeFloor, startUpstream, toolFilteredAccess } from './targets.ts';

export async function runNodeBench(run: BenchRun, nodeArgs: string[]): Promise<void> {
  const { rounds, quick, json, log } = run;
  // 50 streams of 20 events a round: the first event's median over 50 streams and the events' p99
  // over 1,000. With 10 streams (200 events, a p99 that is the second-worst event) one stalled
  // scheduling slice decided both lines: the same build read met and not met in two runs.
  const options: RoundOptions = quick
    ? { seconds: run.seconds, sseStreams: 3, sseEvents: 10, idleCounts: [100, 500], disconnects: 3, largeAnswers: 16 }
    : { seconds: run.seconds, sseStreams: 50, sseEvents: 20, idleCounts: [500, 5000], disconnects: 10, largeAnswers: 200 };

  const upstream = await startUpstream();
  const started: Started[] = [direct(upstream)];
  const notes: string[] = [];
  try {
    const nginx = await startNginx(upstream, 1);
    if (nginx) started.push(nginx);
    else notes.push('nginx is not installed (apt-get install -y nginx-light): its column is empty');
    started.push(await startNodeFloor(upstream));
    const key2oauth = await startKey2OAuth(upstream, {}, { nodeArgs });
    started.push(key2oauth, await toolFilteredAccess(key2oauth, upstream));
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
      log(report(perRound, started, notes, NODE_REPORT));
      log(
        `\nall cores (${availableParallelism()}): nginx worker_processes auto, Key2OAuth WORKERS=auto${report(allCoreRounds, allCores, [], { ...NODE_REPORT, against: ['direct', 'nginx'], checks: undefined })}`,
      );
    }
  } finally {
    for (const target of started.reverse()) await target.stop();
    await upstream.stop();
  }
}
