// A fixture for test/scripts/test-runner.test.ts (not a test of its own: no `.test.ts`): its tests
// pass but leave a handle open that would keep the file's process alive for ever.
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { after, test } from 'node:test';

// A file's last hook, slower than a second: it runs to its end before the process is ended.
after(async () => {
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  if (process.env.K2O_FIXTURE_AFTER_MARK) writeFileSync(process.env.K2O_FIXTURE_AFTER_MARK, 'ran to its end');
});

test('leaves a server listening', async () => {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
});

test('leaves an interval running', () => {
  setInterval(() => {}, 1_000);
});
