import assert from 'node:assert/strict';
import { test } from 'node:test';
import { tokenParts } from '../../src/oauth/engine.ts';

const SLUG = 'Ab3dEf6hIj9L';

test('an engine token names its slug in its first segment', () => {
  assert.deepEqual(tokenParts(`${SLUG}:grant123:secretsecretsecret`), { slug: SLUG, grantId: 'grant123' });
  assert.equal(tokenParts('Not_a_slug:grant:secret'), undefined);
  assert.equal(tokenParts(undefined), undefined);
});

test('a token is three non-empty segments of at most 128 characters each, or no token of ours', () => {
  const long = 'x'.repeat(128);
  assert.deepEqual(tokenParts(`${SLUG}:${long}:${long}`), { slug: SLUG, grantId: long });
  for (const refused of [
    `${SLUG}:grant`,
    `${SLUG}:grant:secret:more`,
    `${SLUG}::secret`,
    `${SLUG}:grant:`,
    `:grant:secret`,
    `${SLUG}`,
    `${SLUG}:${'x'.repeat(129)}:secret`,
    `${SLUG}:grant:${'x'.repeat(129)}`,
    '',
  ])
    assert.equal(tokenParts(refused), undefined, refused);
});

test('read for one endpoint, a token is its parts only when it names that endpoint, with the same shape rules', () => {
  assert.deepEqual(tokenParts(`${SLUG}:grant123:secretsecretsecret`, SLUG), { slug: SLUG, grantId: 'grant123' });
  for (const refused of [
    `Zz9yXw8vUt7s:grant123:secretsecretsecret`,
    `${SLUG.toLowerCase()}:grant123:secretsecretsecret`,
    `${SLUG}x:grant123:secretsecretsecret`,
    `${SLUG}:grant:secret:more`,
    `${SLUG}:${'x'.repeat(129)}:secret`,
    `${SLUG}:grant:`,
  ])
    assert.equal(tokenParts(refused, SLUG), undefined, refused);
});
