import { type Outcome, outcomeOf, summaryLine, type TestEvent } from './summary-reporter.ts';

/**
 * test/run.ts's reporter, to a file: one line per counted test (`passed`, `failed` or `skipped`,
 * by the summary reporter's rules) as soon as it ends, so that a run which has to be killed can
 * still be summed up from what had finished; and at the end the summary reporter's closing line,
 * which run.ts prints last. (One reporter for both: a third reporter on the run makes node:test
 * warn of too many listeners.)
 */
export default async function* progress(source: AsyncIterable<TestEvent>) {
  const counts: Record<Outcome, number> = { passed: 0, failed: 0, skipped: 0 };
  for await (const event of source) {
    const outcome = outcomeOf(event);
    if (!outcome) continue;
    counts[outcome]++;
    yield `${outcome}\n`;
  }
  yield `${summaryLine(counts)}\n`;
}
