import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

/**
 * The nginx configs a reader copies from the docs are the ones the tests run, shown character
 * for character: docs/deploy/nginx.conf (one server behind TLS, test/e2e/nginx.test.ts) in
 * docs/production.md and docs/nginx-replicas.conf (several replicas on one Redis,
 * test/e2e/replicas.test.ts) in docs/replicas.md.
 */
const readme = ['production.md', 'replicas.md']
  .map((page) => readFileSync(new URL(`../../docs/${page}`, import.meta.url), 'utf8'))
  .join('\n');
const shown = [...readme.matchAll(/```nginx\n([\s\S]*?)```/g)].map((match) => match[1]);

for (const file of ['docs/deploy/nginx.conf', 'docs/nginx-replicas.conf']) {
  test(`the docs show ${file} exactly, the file its test runs`, () => {
    const config = readFileSync(new URL(`../../${file}`, import.meta.url), 'utf8');
    assert.ok(shown.includes(config), `one of the docs' ${shown.length} nginx blocks is ${file}`);
    assert.ok(config.includes('proxy_buffering off;'), 'SSE is not buffered');
  });
}

test('the replicas config keeps streams open for an hour', () => {
  assert.ok(readFileSync(new URL('../../docs/nginx-replicas.conf', import.meta.url), 'utf8').includes('proxy_read_timeout 1h;'));
});
