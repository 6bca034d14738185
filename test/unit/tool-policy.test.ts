import assert from 'node:assert/strict';
import { test } from 'node:test';
import { allows, choiceFromForm, isRestricted, underCeiling } from '../../src/upstream/tool-policy.ts';

/** The rules of upstream/tool-policy.ts, one decision at a time. */

const readOnly = { name: 'search', annotations: { readOnlyHint: true } };
const destructive = { name: 'delete', annotations: { readOnlyHint: true, destructiveHint: true } };
const unmarked = { name: 'update' };

test('all allows every tool; read_only only tools marked read-only and not destructive; chosen only its names', () => {
  assert.ok([readOnly, destructive, unmarked].every((tool) => allows({ mode: 'all' }, undefined, tool)));
  assert.ok(allows(undefined, undefined, unmarked), 'an older grant without a choice allows all');
  assert.deepEqual(
    [readOnly, destructive, unmarked].filter((tool) => allows({ mode: 'read_only' }, undefined, tool)).map((tool) => tool.name),
    ['search'],
  );
  assert.ok(
    !allows({ mode: 'read_only' }, undefined, { name: 'x', annotations: { readOnlyHint: 'true' } }),
    'only the boolean true counts',
  );
  assert.deepEqual(
    [readOnly, destructive, unmarked]
      .filter((tool) => allows({ mode: 'chosen', tools: ['update'] }, undefined, tool))
      .map((tool) => tool.name),
    ['update'],
  );
});

test('the ceiling: deny wins, an empty allow allows any name, * matches any run and nothing else is special', () => {
  const ceiling = { allow: ['search_*', 'get.item'], deny: ['search_secret*'] };
  assert.ok(underCeiling(ceiling, 'search_docs'));
  assert.ok(!underCeiling(ceiling, 'search_secrets'));
  assert.ok(underCeiling(ceiling, 'get.item'));
  assert.ok(!underCeiling(ceiling, 'getXitem'), 'a dot is a dot');
  assert.ok(!underCeiling(ceiling, 'delete_item'));
  assert.ok(underCeiling({ deny: ['delete_*'] }, 'anything'));
  assert.ok(!allows({ mode: 'chosen', tools: ['search_secrets'] }, ceiling, { name: 'search_secrets' }), 'the ceiling narrows a choice');
});

test('restricted only when a choice or a ceiling can refuse something', () => {
  assert.equal(isRestricted(undefined, undefined), false);
  assert.equal(isRestricted({ mode: 'all' }, {}), false);
  assert.equal(isRestricted({ mode: 'all' }, { allow: [], deny: [] }), false);
  assert.equal(isRestricted({ mode: 'all' }, { deny: ['x'] }), true);
  assert.equal(isRestricted({ mode: 'read_only' }, undefined), true);
});

test('the consent form: no tools field is all; chosen keeps its tool fields; nonsense is a sentence', () => {
  assert.deepEqual(choiceFromForm(new URLSearchParams()), { mode: 'all' });
  assert.deepEqual(choiceFromForm(new URLSearchParams('tools=read_only')), { mode: 'read_only' });
  assert.deepEqual(choiceFromForm(new URLSearchParams('tools=chosen&tool=a&tool=b&tool=a')), { mode: 'chosen', tools: ['a', 'b'] });
  assert.ok('problem' in choiceFromForm(new URLSearchParams('tools=some')));
  assert.ok('problem' in choiceFromForm(new URLSearchParams(`tools=chosen&tool=${'x'.repeat(129)}`)));
});
