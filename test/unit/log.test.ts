import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLogger, redact } from '../../src/log.ts';

test('secret fields are redacted at any depth, whatever their case', () => {
  const out = JSON.stringify(
    redact({
      headers: { Authorization: 'Bearer abc', Cookie: 'a=b' },
      apiKey: 'k',
      nested: { refresh_token: 'r', code: 'c' },
      slug: 'kept',
    }),
  );
  for (const secret of ['Bearer abc', 'a=b', '"k"', '"r"', '"c"']) assert.ok(!out.includes(secret), secret);
  assert.ok(out.includes('kept'));
});

test('credential-shaped values are redacted even under innocent names', () => {
  const out = JSON.stringify(
    redact({ message: 'sent Bearer sk-live-123 to upstream', note: 'AbCdEfGhIjKl:grant1234:0123456789abcdefXYZ' }),
  );
  assert.ok(!out.includes('sk-live-123'));
  assert.ok(!out.includes('0123456789abcdefXYZ'));
});

test('the level threshold holds and lines are JSON', () => {
  const lines: string[] = [];
  const log = createLogger('warn', (line) => lines.push(line));
  log.info('hidden');
  log.warn('shown', { slug: 's' });
  assert.equal(lines.length, 1);
  assert.deepEqual({ ...JSON.parse(lines[0]!), time: undefined }, { time: undefined, level: 'warn', msg: 'shown', slug: 's' });
});

test('a logger says which levels it writes, so callers skip building lines nobody reads', () => {
  const log = createLogger('warn', () => {});
  assert.equal(log.enabled('info'), false);
  assert.equal(log.enabled('debug'), false);
  assert.equal(log.enabled('warn'), true);
  assert.equal(createLogger('silent', () => {}).enabled('error'), false);
});
