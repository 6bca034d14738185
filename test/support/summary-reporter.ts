/**
 * A node:test reporter that ends the run with one line, `N passed, N failed`, which CI reads.
 * Suites are not counted, only the tests in them; skipped and todo tests are reported apart.
 * A test that timed out or was cancelled arrives as `test:fail` and counts as failed.
 */
export type Outcome = 'passed' | 'failed' | 'skipped';

/** The part of node:test's reporter events this counts (the events themselves are untyped). */
export interface TestEvent {
  type: string;
  data: { details?: { type?: string }; skip?: unknown; todo?: unknown };
}

/** What one reporter event counts as, or undefined when it counts for nothing. */
export function outcomeOf(event: TestEvent): Outcome | undefined {
  if (event.type !== 'test:pass' && event.type !== 'test:fail') return undefined;
  if (event.data.details?.type === 'suite') return undefined;
  if (event.data.skip || event.data.todo) return 'skipped';
  return event.type === 'test:pass' ? 'passed' : 'failed';
}

export function summaryLine(counts: Record<Outcome, number>): string {
  return `${counts.passed} passed, ${counts.failed} failed${counts.skipped ? `, ${counts.skipped} skipped` : ''}`;
}

export default async function* summary(source: AsyncIterable<TestEvent>) {
  const counts: Record<Outcome, number> = { passed: 0, failed: 0, skipped: 0 };
  for await (const event of source) {
    const outcome = outcomeOf(event);
    if (outcome) counts[outcome]++;
  }
  yield `\n${summaryLine(counts)}\n`;
}
