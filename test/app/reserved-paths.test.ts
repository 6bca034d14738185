import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isOperatorSlug } from '../../src/endpoint-urls.ts';
import { startApp } from '../support/in-process.ts';

/**
 * An operator names a stdio server's slug (docs/stdio.md); one equal to a path the app answers
 * itself would put an endpoint's URLs under that route. Every first path segment of every route
 * the app registers must be refused as an operator slug: a new page cannot be added without
 * reserving its name (endpoint-urls.ts RESERVED_SLUGS).
 */
test('no route of the app begins with a name an operator could give a stdio server', async () => {
  const k = await startApp();
  try {
    const segments = new Set(
      k.app.routes.map((route) => route.path.split('/')[1] ?? '').filter((segment) => segment && !segment.startsWith(':')),
    );
    assert.ok(segments.has('api') && segments.has('oauth'), `the routes were read: ${[...segments]}`);
    const open = [...segments].filter((segment) => isOperatorSlug(segment));
    assert.deepEqual(open, [], 'route segments an operator slug could take');
  } finally {
    await k.close();
  }
});
