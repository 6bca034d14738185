/**
 * A node:test reporter that ends the run with one line, `N passed, N failed`, which CI reads.
 * Suites are not counted, only the tests in them; skipped and todo tests are reported apart.
 */
// biome-ignore lint/suspicious/noExplicitAny: node:test's reporter events are untyped.
export default async function* summary(source: AsyncIterable<{ type: string; data: any }>) {
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  for await (const event of source) {
    if (event.type !== 'test:pass' && event.type !== 'test:fail') continue;
    if (event.data.details?.type === 'suite') continue;
    if (event.data.skip || event.data.todo) skipped++;
    else if (event.type === 'test:pass') passed++;
    else failed++;
  }
  yield `\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}\n`;
}
