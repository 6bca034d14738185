/** Turns rounds of figures into the printed table (medians, ratios, spread) or JSON. */
import { describe, type Figure } from './measure.ts';
import type { Started } from './targets.ts';

export interface Summary {
  median: number;
  min: number;
  max: number;
}

export function summarize(values: number[]): Summary | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
  return { median, min: sorted[0]!, max: sorted.at(-1)! };
}

function collect(perRound: Figure[][], targets: Started[]) {
  const keys = [...new Set(perRound.flat().map((figure) => figure.key))];
  return keys.map((key) => ({
    key,
    ...describe(key),
    targets: Object.fromEntries(
      targets.map((target) => [
        target.name,
        summarize(
          perRound
            .flat()
            .filter((figure) => figure.key === key && figure.target === target.name)
            .map((figure) => figure.value),
        ),
      ]),
    ) as Record<string, Summary | undefined>,
  }));
}

export const format = (value: number): string =>
  !Number.isFinite(value) ? '—' : Math.abs(value) >= 100 ? Math.round(value).toLocaleString('en') : value.toFixed(value < 1 ? 3 : 2);

type Row = ReturnType<typeof collect>[number];
/** A target line under the table: what is checked, the measured value, its unit, whether it holds. */
type Check = [label: string, value: number, unit: string, ok: boolean];

export interface ReportOptions {
  /** Our target, whose ratios the last columns show. */
  ours: string;
  /** What ours is divided by, one column each. */
  against: string[];
  /** The issue's targets checked under the table (none for a throughput-only table). */
  checks?: { heading: string; of: (get: (key: string, name: string) => number, rows: Row[], paired: Paired) => Check[] };
}

/**
 * One figure of target `a` against target `b`, round by round (`a ÷ b`, or `a − b`), the median over
 * the rounds: each round measures every target in turn, so a pair shares that round's machine, where
 * the medians of separate rounds may each come from a round the host slowed down.
 */
export type Paired = (key: string, a: string, b: string, how: 'ratio' | 'difference') => number;

/** The Node server against one nginx worker (issue #12's targets). */
export const NODE_REPORT: ReportOptions = {
  ours: 'key2oauth',
  against: ['direct', 'nginx', 'node-floor'],
  checks: { heading: 'targets (one Key2OAuth process against one nginx worker):', of: nodeChecks },
};

/** Our Worker against the seed's, both under `wrangler dev` on the same workerd. */
export const WORKER_REPORT: ReportOptions = {
  ours: 'key2oauth-worker',
  against: ['passthrough-worker', 'seed-worker', 'seed-memoized-worker'],
  checks: { heading: "target (ours on the Worker against the seed's design, same runtime):", of: workerChecks },
};

export function report(perRound: Figure[][], targets: Started[], notes: string[], options: ReportOptions): string {
  const rows = collect(perRound, targets);
  const { ours, against } = options;
  const names = targets.map((target) => target.name);
  const spread = perRound.length > 1;
  const lines = [
    '',
    `| figure | ${names.join(' | ')} | ${against.map((other) => `${ours} ÷ ${other}`).join(' | ')} |`,
    `|---|${names.map(() => '---:').join('|')}|${against.map(() => '---:').join('|')}|`,
  ];
  for (const row of rows) {
    const cell = (name: string) => {
      const s = row.targets[name];
      if (!s) return '—';
      const text = `${format(s.median)}${row.unit && row.unit !== '/s' ? ` ${row.unit}` : ''}`;
      return spread && s.min !== s.max ? `${text} (${format(s.min)}–${format(s.max)})` : text;
    };
    const ratio = (other: string) => {
      const a = row.targets[ours]?.median;
      const b = row.targets[other]?.median;
      return a === undefined || b === undefined || b === 0 || row.unit === '' ? '—' : `${(a / b).toFixed(2)}×`;
    };
    lines.push(`| ${row.label} | ${names.map(cell).join(' | ')} | ${against.map(ratio).join(' | ')} |`);
  }
  if (options.checks) {
    const get = (key: string, name: string) => rows.find((row) => row.key === key)?.targets[name]?.median ?? Number.NaN;
    const paired: Paired = (key, a, b, how) => {
      const values: number[] = [];
      for (const figures of perRound) {
        const x = figures.find((figure) => figure.key === key && figure.target === a)?.value;
        const y = figures.find((figure) => figure.key === key && figure.target === b)?.value;
        if (x === undefined || y === undefined) continue;
        const value = how === 'ratio' ? x / y : x - y;
        if (Number.isFinite(value)) values.push(value);
      }
      return summarize(values)?.median ?? Number.NaN;
    };
    lines.push('', options.checks.heading);
    for (const [label, value, unit, ok] of options.checks.of(get, rows, paired)) {
      lines.push(`  ${ok ? 'met    ' : Number.isNaN(value) ? 'n/a    ' : 'NOT MET'}  ${label}: ${format(value)} ${unit}`);
    }
  }
  for (const note of notes) lines.push(`note: ${note}`);
  return lines.join('\n');
}

function nodeChecks(get: (key: string, name: string) => number, rows: Row[], paired: Paired): Check[] {
  const ours = 'key2oauth';
  // Each figure for a target, with the least any Node proxy does (node-floor.ts) shown beside ours.
  const figures: [label: string, unit: string, limit: number, of: (name: string) => number, atLeast?: boolean][] = [
    ['requests/s at c16 ≥ 0.5× nginx', '×', 0.5, (name) => get('c16_rps', name) / get('c16_rps', 'nginx'), true],
    ['added p50 at c1 ≤ 0.3 ms', 'ms', 0.3, (name) => get('c1_p50', name) - get('c1_p50', 'direct')],
    ['CPU per request ≤ 4× nginx', '×', 4, (name) => get('c16_cpu_us', name) / get('c16_cpu_us', 'nginx')],
    ['SSE event added delay p99 ≤ 0.5 ms', 'ms', 0.5, (name) => get('sse_delay_p99', name) - get('sse_delay_p99', 'direct')],
    ['first event within 0.5 ms of direct', 'ms', 0.5, (name) => get('first_event_p50', name) - get('first_event_p50', 'direct')],
  ];
  const checks: Check[] = figures.map(([label, unit, limit, of, atLeast]) => {
    const value = of(ours);
    const floor = of('node-floor');
    const withFloor = Number.isFinite(floor) ? `${label} (node floor: ${format(floor)} ${unit})` : label;
    return [withFloor, value, unit, atLeast ? value >= limit : value <= limit];
  });
  // Issue 24, item 5: a tool-filtered grant (the same process, its own runs) against an unrestricted one.
  const filtered = get('c16_cpu_us', 'key2oauth-tools') / get('c16_cpu_us', ours);
  if (Number.isFinite(filtered)) {
    const [a, b] = [get('c16_cpu_us', 'key2oauth-tools'), get('c16_cpu_us', ours)];
    checks.push([
      `tool-filtered grant's CPU per request ≤ 1.15× an unrestricted one's (${format(a)} against ${format(b)} µs)`,
      filtered,
      '×',
      filtered <= 1.15,
    ]);
  }
  const idleKeys = rows.filter((row) => row.key.startsWith('idle_kib_')).map((row) => row.key);
  const largest = idleKeys.at(-1);
  if (largest) {
    const count = largest.slice('idle_kib_'.length);
    const kib = get(largest, ours);
    const failed = get(`idle_errors_${count}`, ours);
    checks.push([`memory per idle stream ≤ 32 KiB with ${count} open, no error`, kib, 'KiB', kib <= 32 && failed === 0]);
  }
  return [...checks, ...floorChecks(get, paired, largest)];
}

/**
 * Issue 24's bar: against the least a Node proxy does (node-floor.ts), in the same interleaved
 * run, since no Node process beats it: each figure of ours against the floor's of the same round,
 * the median over rounds (Paired).
 */
function floorChecks(get: (key: string, name: string) => number, paired: Paired, largestIdle: string | undefined): Check[] {
  if (!Number.isFinite(get('c16_rps', 'node-floor'))) return [];
  const against = (key: string, how: 'ratio' | 'difference') => paired(key, 'key2oauth', 'node-floor', how);
  const rps = against('c16_rps', 'ratio');
  const cpu = against('c16_cpu_us', 'ratio');
  const p50 = against('c1_p50', 'difference');
  const sse = against('sse_delay_p99', 'difference');
  const first = against('first_event_p50', 'difference');
  const lines: Check[] = [
    ['vs the node floor, round by round: requests/s at c16 ≥ 0.9×', rps, '×', rps >= 0.9],
    ['vs the node floor, round by round: CPU per request ≤ 1.3×', cpu, '×', cpu <= 1.3],
    ['vs the node floor, round by round: p50 at c1 ≤ the floor’s + 0.05 ms', p50, 'ms more', p50 <= 0.05],
    ['vs the node floor, round by round: SSE event p99 ≤ the floor’s', sse, 'ms more', sse <= 0],
    ['vs the node floor, round by round: first SSE event ≤ the floor’s + 0.2 ms', first, 'ms more', first <= 0.2],
  ];
  if (largestIdle) {
    const extra = against(largestIdle, 'difference');
    lines.push([
      `vs the node floor, round by round: memory per idle stream (${largestIdle.slice('idle_kib_'.length)} open) ≤ the floor’s + 1 KiB`,
      extra,
      'KiB more',
      extra <= 1,
    ]);
  }
  return lines;
}

/**
 * The bar on Workers: ours costs no more CPU per request than the seed's design did, as published
 * and (issue 24, item 4) with its endpoint-record reads memoized (seed-memo-worker.ts). Each ratio
 * pairs a round with itself (Paired), as the Node verdicts do: under load one round of one Worker
 * can run half again as slow as the next.
 */
function workerChecks(get: (key: string, name: string) => number, _rows: Row[], paired: Paired): Check[] {
  const ours = 'key2oauth-worker';
  const ratio = (key: string, seed: string) => paired(key, ours, seed, 'ratio');
  const against = (key: string, seed: string) => `${format(get(key, ours))} against ${format(get(key, seed))} µs`;
  // What each design adds to the runtime's own cost of relaying a request (the passthrough's), round by round.
  const added = (name: string) => paired('c16_worker_cpu_us', name, 'passthrough-worker', 'difference');
  const addedRatio = added(ours) / added('seed-worker');
  const lines: [label: string, value: number][] = [
    ["CPU per request ≤ the seed's, round by round (both workerd processes)", ratio('c16_cpu_us', 'seed-worker')],
    ["CPU per request ≤ the seed's, round by round (the Worker's own workerd)", ratio('c16_worker_cpu_us', 'seed-worker')],
    [`CPU added over the passthrough ≤ the seed's (${format(added(ours))} against ${format(added('seed-worker'))} µs)`, addedRatio],
    [
      `Worker CPU per request ≤ the memoized seed's, round by round (${against('c16_cpu_us', 'seed-memoized-worker')})`,
      ratio('c16_cpu_us', 'seed-memoized-worker'),
    ],
    [
      `Worker CPU per request ≤ the memoized seed's, round by round, the Worker's own workerd (${against('c16_worker_cpu_us', 'seed-memoized-worker')})`,
      ratio('c16_worker_cpu_us', 'seed-memoized-worker'),
    ],
  ];
  return lines.map(([label, value]) => [label, value, '×', value <= 1]);
}

export function toJson(perRound: Figure[][], targets: Started[], notes: string[], run: Record<string, unknown>) {
  return { run, notes, figures: collect(perRound, targets), rounds: perRound };
}
