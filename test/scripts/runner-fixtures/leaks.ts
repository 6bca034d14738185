// A fixture for test/scripts/test-runner.test.ts (not a test of its own: no `.test.ts`): its tests
// pass but leave a handle open that would keep the file's process alive for ever.
import { createServer } from 'node:net';
import { test } from 'node:test';

test('leaves a server listening', async () => {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
});

test('leaves an interval running', () => {
  setInterval(() => {}, 1_000);
});
