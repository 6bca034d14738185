import assert from 'node:assert/strict';
import { test } from 'node:test';
import { timingSafeEqual } from '../../src/crypto.ts';

test('timingSafeEqual: equal only when every character is, whatever the lengths', () => {
  const token = 'Ab3dEf6hIj9L:grant:secretsecret';
  assert.ok(timingSafeEqual(token, `${token}`));
  assert.ok(timingSafeEqual('', ''));
  for (const other of [`${token.slice(0, -1)}X`, `X${token.slice(1)}`, token.slice(0, -1), `${token}x`, '', token.toUpperCase(), 'é'])
    assert.ok(!timingSafeEqual(token, other), other);
  assert.ok(timingSafeEqual('clé', 'clé'));
  assert.ok(!timingSafeEqual('clé', 'cle'));
});
