/** One round of every figure on every target. */
import {
  closedLoop,
  fixedLoad,
  LARGE_ANSWER_BYTES,
  LARGE_CALL_BODY,
  LARGE_REQUEST_BODY,
  openIdleStream,
  openIdleStreams,
  percentile,
  sseStreams,
} from './load.ts';
import { rssBytes } from './proc.ts';
import type { Started, UpstreamProcess } from './targets.ts';

export interface Figure {
  key: string;
  target: string;
  value: number;
}

export interface RoundOptions {
  /** Measured seconds of each closed-loop run (after a short uncounted warm-up). */
  seconds: number;
  sseStreams: number;
  sseEvents: number;
  /** Idle streams held open at once, one measurement per count. */
  idleCounts: number[];
  disconnects: number;
  /** Messages per round for each large-message CPU figure (a large answer, a large request: LARGE_ANSWER_BYTES). */
  largeAnswers: number;
}

/** What each figure means, its unit, and which way is better; the report reads this. */
export function describe(key: string): { label: string; unit: string; higherIsBetter: boolean } {
  const idle = /^idle_kib_(\d+)$/.exec(key);
  if (idle) return { label: `memory per idle stream, ${idle[1]} open`, unit: 'KiB', higherIsBetter: false };
  const idleErrors = /^idle_errors_(\d+)$/.exec(key);
  if (idleErrors) return { label: `idle streams failed, of ${idleErrors[1]}`, unit: '', higherIsBetter: false };
  const known: Record<string, { label: string; unit: string; higherIsBetter: boolean }> = {
    c1_p50: { label: 'latency p50, concurrency 1', unit: 'ms', higherIsBetter: false },
    c1_p99: { label: 'latency p99, concurrency 1', unit: 'ms', higherIsBetter: false },
    c16_rps: { label: 'requests/s, concurrency 16', unit: '/s', higherIsBetter: true },
    c16_p99: { label: 'latency p99, concurrency 16', unit: 'ms', higherIsBetter: false },
    c16_cpu_us: { label: 'proxy CPU per request (c16)', unit: 'µs', higherIsBetter: false },
    c16_worker_cpu_us: { label: "of which the Worker's own workerd (c16)", unit: 'µs', higherIsBetter: false },
    c64_rps: { label: 'requests/s, concurrency 64', unit: '/s', higherIsBetter: true },
    c64_p99: { label: 'latency p99, concurrency 64', unit: 'ms', higherIsBetter: false },
    errors: { label: 'failed requests (all load runs)', unit: '', higherIsBetter: false },
    sse_delay_p50: { label: 'SSE event delay p50', unit: 'ms', higherIsBetter: false },
    sse_delay_p99: { label: 'SSE event delay p99', unit: 'ms', higherIsBetter: false },
    first_event_p50: { label: 'first SSE event, p50', unit: 'ms', higherIsBetter: false },
    large_cpu_us: {
      label: `proxy CPU per message, ${LARGE_ANSWER_BYTES / 1024} KiB event-stream answer (c4)`,
      unit: 'µs',
      higherIsBetter: false,
    },
    large_request_cpu_us: {
      label: `proxy CPU per message, ${LARGE_ANSWER_BYTES / 1024} KiB tool call (c4)`,
      unit: 'µs',
      higherIsBetter: false,
    },
    disconnect_ms: { label: 'upstream sees client leave, p50', unit: 'ms', higherIsBetter: false },
  };
  return known[key] ?? { label: key, unit: '', higherIsBetter: false };
}

/**
 * The request/response figures of one round on every target: latency at concurrency 1,
 * throughput, p99 and CPU per request at 16, throughput and p99 at 64. Failed requests are
 * counted into `errors` per target.
 */
export async function measureRequests(
  targets: Started[],
  seconds: number,
  progress: (line: string) => void,
  errors = new Map<string, number>(),
): Promise<Figure[]> {
  const figures: Figure[] = [];
  const add = (target: Started, key: string, value: number) => figures.push({ key, target: target.name, value });
  const countErrors = (target: Started, n: number) => errors.set(target.name, (errors.get(target.name) ?? 0) + n);

  for (const target of targets) {
    const run = await closedLoop(target.endpoint, 1, seconds);
    add(target, 'c1_p50', percentile(run.latencies, 50));
    add(target, 'c1_p99', percentile(run.latencies, 99));
    countErrors(target, run.errors);
  }
  progress('concurrency 1');
  for (const target of targets) {
    const cpuBefore = target.cpuMicros?.() ?? 0;
    const workerCpuBefore = target.workerCpuMicros?.() ?? 0;
    const run = await closedLoop(target.endpoint, 16, seconds);
    // Over every request completed, the warm-up's included: the CPU was sampled around them all.
    const completed = Math.max(1, run.total);
    if (target.cpuMicros) add(target, 'c16_cpu_us', (target.cpuMicros() - cpuBefore) / completed);
    if (target.workerCpuMicros) add(target, 'c16_worker_cpu_us', (target.workerCpuMicros() - workerCpuBefore) / completed);
    add(target, 'c16_rps', run.requests / run.seconds);
    add(target, 'c16_p99', percentile(run.latencies, 99));
    countErrors(target, run.errors);
  }
  progress('concurrency 16');
  for (const target of targets) {
    const run = await closedLoop(target.endpoint, 64, seconds);
    add(target, 'c64_rps', run.requests / run.seconds);
    add(target, 'c64_p99', percentile(run.latencies, 99));
    countErrors(target, run.errors);
  }
  progress('concurrency 64');
  return figures;
}

export async function measureRound(
  targets: Started[],
  upstream: UpstreamProcess,
  options: RoundOptions,
  progress: (line: string) => void,
): Promise<Figure[]> {
  const errors = new Map<string, number>();
  const figures = await measureRequests(targets, options.seconds, progress, errors);
  const add = (target: Started, key: string, value: number) => figures.push({ key, target: target.name, value });
  const countErrors = (target: Started, n: number) => errors.set(target.name, (errors.get(target.name) ?? 0) + n);

  for (const target of targets) {
    const sse = await sseStreams(target.endpoint, options.sseStreams, options.sseEvents, 2);
    add(target, 'sse_delay_p50', percentile(sse.eventDelays, 50));
    add(target, 'sse_delay_p99', percentile(sse.eventDelays, 99));
    add(target, 'first_event_p50', percentile(sse.firstEvent, 50));
    countErrors(target, sse.errors);
  }
  progress('SSE');
  // What a proxy spends per byte shows only in a large message: an answer of one event of
  // LARGE_ANSWER_BYTES that the upstream writes 64 KiB at a time, and a tool call that large.
  for (const [key, body] of [
    ['large_cpu_us', LARGE_CALL_BODY],
    ['large_request_cpu_us', LARGE_REQUEST_BODY],
  ] as const) {
    for (const target of targets) {
      if (!target.cpuMicros) continue;
      try {
        await fixedLoad(target.endpoint, 4, Math.min(8, options.largeAnswers), body);
        const before = target.cpuMicros();
        await fixedLoad(target.endpoint, 4, options.largeAnswers, body);
        add(target, key, (target.cpuMicros() - before) / options.largeAnswers);
      } catch {
        countErrors(target, 1);
      }
    }
  }
  progress('large messages');
  for (const target of targets) {
    if (!target.proxyPid) continue;
    for (const count of options.idleCounts) {
      // Each count on a process that has served no load (Started.fresh), when the target can start one.
      const measured = target.fresh ? await target.fresh() : target;
      try {
        const before = rssBytes(measured.proxyPid!);
        const { streams, errors: failed } = await openIdleStreams(measured.endpoint, count);
        await new Promise((wait) => setTimeout(wait, 300));
        const after = rssBytes(measured.proxyPid!);
        add(target, `idle_kib_${count}`, (after - before) / 1024 / count);
        add(target, `idle_errors_${count}`, failed);
        for (const stream of streams) stream.close();
        // Let the proxy and the upstream see every stream go before the next measurement.
        await new Promise((wait) => setTimeout(wait, Math.min(3000, 200 + count / 5)));
      } finally {
        if (measured !== target) await measured.stop();
      }
    }
  }
  progress('idle streams');
  for (const target of targets) {
    const delays: number[] = [];
    for (let i = 0; i < options.disconnects; i++) {
      const watch = `${target.name}-${i}-${Math.random()}`;
      const stream = openIdleStream(target.endpoint, watch);
      try {
        await stream.ready;
      } catch {
        countErrors(target, 1);
        continue;
      }
      const left = process.hrtime.bigint();
      stream.close();
      const closed = await Promise.race([upstream.closedAt(watch), new Promise<undefined>((done) => setTimeout(done, 5000))]);
      delays.push(closed === undefined ? 5000 : Math.max(0, Number(closed - left) / 1e6));
    }
    delays.sort((a, b) => a - b);
    add(target, 'disconnect_ms', percentile(delays, 50));
  }
  progress('client leaving');
  for (const target of targets) add(target, 'errors', errors.get(target.name) ?? 0);
  return figures;
}

/** All cores against all cores: throughput only (per-process CPU means little once several share the work). */
export async function measureThroughput(targets: Started[], seconds: number): Promise<Figure[]> {
  const figures: Figure[] = [];
  for (const concurrency of [16, 64]) {
    for (const target of targets) {
      const run = await closedLoop(target.endpoint, concurrency, seconds);
      figures.push({ key: `c${concurrency}_rps`, target: target.name, value: run.requests / run.seconds });
      figures.push({ key: `c${concurrency}_p99`, target: target.name, value: percentile(run.latencies, 99) });
    }
  }
  return figures;
}
