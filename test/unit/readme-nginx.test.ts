import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

/**
 * The nginx config a reader copies from the README is the one test/e2e/replicas.test.ts runs:
 * docs/nginx-replicas.conf, shown in the README character for character.
 */
test('the README shows docs/nginx-replicas.conf exactly, the file the replica test runs', () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const config = readFileSync(new URL('../../docs/nginx-replicas.conf', import.meta.url), 'utf8');
  const shown = /```nginx\n([\s\S]*?)```/.exec(readme)?.[1];
  assert.ok(shown, 'the README has an nginx block');
  assert.equal(shown, config);
  for (const directive of ['proxy_buffering off;', 'proxy_read_timeout 1h;', 'X-Forwarded-For $proxy_add_x_forwarded_for;'])
    assert.ok(config.includes(directive), directive);
});
