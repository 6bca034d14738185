// A fixture for test/scripts/test-runner.test.ts (not a test of its own: no `.test.ts`): many
// quick tests whose verdicts all have to reach the runner's closing line.
import { test } from 'node:test';

for (let i = 0; i < 40; i++) test(`quick ${i}`, () => {});
