import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Figure } from '../../scripts/bench/measure.ts';
import { NODE_REPORT, report, WORKER_REPORT } from '../../scripts/bench/report.ts';
import type { Started } from '../../scripts/bench/targets.ts';

/**
 * The bench's verdict lines against the node floor (issue 24's bar): each compares ours with the
 * floor measured in the same run, so a reader sees at a glance what holds. Checked on fixed figures,
 * one just inside and one just outside each bar, since the real figures depend on the machine.
 */
const targets = ['direct', 'node-floor', 'key2oauth'].map((name) => ({ name }) as Started);

function figures(ours: Record<string, number>): Figure[][] {
  const floor: Record<string, number> = {
    c16_rps: 10_000,
    c16_cpu_us: 100,
    c1_p50: 0.2,
    sse_delay_p99: 1,
    first_event_p50: 1,
    idle_kib_5000: 30,
    idle_errors_5000: 0,
  };
  const round: Figure[] = [];
  for (const [key, value] of Object.entries(floor)) {
    round.push({ key, target: 'node-floor', value }, { key, target: 'key2oauth', value: ours[key] ?? value });
    round.push({ key, target: 'direct', value });
  }
  return [round];
}

const verdict = (printed: string, label: RegExp) => {
  const line = printed.split('\n').find((one) => label.test(one));
  assert.ok(line, `a line for ${label}`);
  return line.trim().startsWith('met') ? 'met' : 'NOT MET';
};

test('bench: each target against the node floor is judged from the same run', () => {
  const within = report(
    figures({ c16_rps: 9_100, c16_cpu_us: 129, c1_p50: 0.24, sse_delay_p99: 1, first_event_p50: 1.19, idle_kib_5000: 30.9 }),
    targets,
    [],
    NODE_REPORT,
  );
  const beyond = report(
    figures({ c16_rps: 8_900, c16_cpu_us: 131, c1_p50: 0.26, sse_delay_p99: 1.01, first_event_p50: 1.21, idle_kib_5000: 31.1 }),
    targets,
    [],
    NODE_REPORT,
  );
  for (const label of [
    /floor, round by round: requests\/s/,
    /floor, round by round: CPU per request/,
    /floor, round by round: p50 at c1/,
    /floor, round by round: SSE event p99/,
    /floor, round by round: first SSE/,
    /floor, round by round: memory per idle/,
  ]) {
    assert.equal(verdict(within, label), 'met', `${label} within the bar`);
    assert.equal(verdict(beyond, label), 'NOT MET', `${label} beyond the bar`);
  }
});

/**
 * On a noisy host one round can run twice as slow as the next for every target: the verdict pairs
 * ours with the floor of the same round, so a slow round of ours beside a fast round of the floor
 * (which the medians of separate rounds would compare) does not decide it.
 */
test('bench: the verdict against the node floor pairs each round with itself', () => {
  const rounds: [floor: number, ours: number][] = [
    [80, 104],
    [300, 360],
    [100, 300],
  ];
  const perRound = rounds.map(([floor, ours]) => [
    { key: 'c16_cpu_us', target: 'node-floor', value: floor },
    { key: 'c16_cpu_us', target: 'key2oauth', value: ours },
    { key: 'c16_rps', target: 'node-floor', value: 10_000 },
    { key: 'c16_rps', target: 'key2oauth', value: 10_000 },
  ]);
  const printed = report(perRound, targets, [], NODE_REPORT);
  // Medians of separate rounds: 300 against 100, 3×. Round by round: 1.3×, 1.2× and 3×, median 1.3×.
  assert.match(printed, /round by round: CPU per request ≤ 1\.3×: 1\.30 ×/);
  assert.equal(verdict(printed, /round by round: CPU per request/), 'met');
});

/**
 * Issue 24, item 4: the Worker against the seed's design with its endpoint-record reads memoized
 * (scripts/bench/seed-memo-worker.ts), on both CPU figures, from the same run. Fixed figures one
 * just inside and one just outside the bar.
 */
test('bench: the Worker is judged against the memoized seed from the same run', () => {
  const workers = ['direct', 'passthrough-worker', 'key2oauth-worker', 'seed-worker', 'seed-memoized-worker'].map(
    (name) => ({ name }) as Started,
  );
  const run = (ours: number) => {
    const cpu: Record<string, number> = { 'passthrough-worker': 3_000, 'seed-worker': 6_000, 'seed-memoized-worker': 4_000 };
    const round: Figure[] = [];
    for (const [target, value] of Object.entries({ ...cpu, 'key2oauth-worker': ours })) {
      round.push({ key: 'c16_cpu_us', target, value }, { key: 'c16_worker_cpu_us', target, value: value / 2 });
    }
    return report([round], workers, [], WORKER_REPORT);
  };
  const within = run(3_990);
  const beyond = run(4_010);
  for (const label of [/≤ the memoized seed's, round by round \(/, /≤ the memoized seed's, round by round, the Worker's own workerd/]) {
    assert.equal(verdict(within, label), 'met', `${label} within the bar`);
    assert.equal(verdict(beyond, label), 'NOT MET', `${label} beyond the bar`);
  }
  assert.match(within, /Worker CPU per request ≤ the memoized seed's, round by round \(3,990 against 4,000 µs\): 0\.998 ×/);
  assert.match(beyond, /Worker CPU per request ≤ the memoized seed's, round by round \(4,010 against 4,000 µs\): 1\.00 ×/);
  // The published seed's lines are judged on the same figures: both runs are well under it.
  assert.equal(verdict(beyond, /≤ the seed's, round by round \(both workerd/), 'met');
});

/** The Worker's verdicts pair rounds too: a round the host slowed for ours alone does not decide them. */
test('bench: the verdict against the memoized seed pairs each round with itself', () => {
  const workers = ['passthrough-worker', 'key2oauth-worker', 'seed-worker', 'seed-memoized-worker'].map((name) => ({ name }) as Started);
  const rounds: [memoized: number, ours: number][] = [
    [4_000, 3_900],
    [8_000, 7_800],
    [4_000, 8_000],
  ];
  const perRound = rounds.map(([memoized, ours]) =>
    Object.entries({
      'passthrough-worker': 3_000,
      'seed-worker': 9_000,
      'seed-memoized-worker': memoized,
      'key2oauth-worker': ours,
    }).flatMap(([target, value]) => [
      { key: 'c16_cpu_us', target, value },
      { key: 'c16_worker_cpu_us', target, value },
    ]),
  );
  const printed = report(perRound, workers, [], WORKER_REPORT);
  // Medians of separate rounds: 7,800 against 4,000, 1.95×. Round by round: 0.975, 0.975 and 2, median 0.975.
  assert.match(printed, /Worker CPU per request ≤ the memoized seed's, round by round \(7,800 against 4,000 µs\): 0\.975 ×/);
  assert.equal(verdict(printed, /Worker CPU per request ≤ the memoized seed's, round by round \(/), 'met');
});
