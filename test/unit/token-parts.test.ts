import assert from 'node:assert/strict';
import { test } from 'node:test';
import { tokenParts } from '../../src/oauth/engine.ts';

const SLUG = 'Ab3dEf6hIj9L';

test('an engine token names its slug in its first segment', () => {
  assert.deepEqual(tokenParts(`${SLUG}:grant123:secretsecretsecret`), { slug: SLUG, grantId: 'grant123' });
  assert.equal(tokenParts('Not_a_slug:grant:secret'), undefined);
  assert.equal(tokenParts(undefined), undefined);
});
