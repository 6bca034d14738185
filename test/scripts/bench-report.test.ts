import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Figure } from '../../scripts/bench/measure.ts';
import { NODE_REPORT, report } from '../../scripts/bench/report.ts';
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
    /floor: requests\/s/,
    /floor: CPU per request/,
    /floor: p50 at c1/,
    /floor: SSE event p99/,
    /floor: first SSE/,
    /floor: memory per idle/,
  ]) {
    assert.equal(verdict(within, label), 'met', `${label} within the bar`);
    assert.equal(verdict(beyond, label), 'NOT MET', `${label} beyond the bar`);
  }
});
