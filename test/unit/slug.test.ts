import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isSlug, SLUG_LENGTH } from '../../src/endpoint-urls.ts';
import { generateSlug } from '../../src/endpoints/slug.ts';

test('slugs are 12 characters of [A-Za-z0-9] and do not repeat', () => {
  const seen = new Set<string>();
  for (let i = 0; i < 20_000; i++) {
    const slug = generateSlug();
    assert.equal(slug.length, SLUG_LENGTH);
    assert.ok(isSlug(slug), slug);
    seen.add(slug);
  }
  assert.equal(seen.size, 20_000);
});

test('bytes that would bias the alphabet are discarded, not reduced modulo 62', () => {
  // 248..255 map to the first eight characters under `% 62`; they must be skipped instead.
  const biased = Uint8Array.from([248, 249, 250, 251, 252, 253, 254, 255]);
  let call = 0;
  const slug = generateSlug((length) => {
    call++;
    const bytes = new Uint8Array(length);
    if (call === 1) bytes.set(biased);
    bytes.fill(61, call === 1 ? biased.length : 0);
    return bytes;
  });
  assert.equal(slug, '999999999999');
});

test('every character of the alphabet is reachable', () => {
  const chars = new Set<string>();
  for (let byte = 0; byte < 62; byte++) chars.add(generateSlug((length) => new Uint8Array(length).fill(byte))[0]!);
  assert.equal(chars.size, 62);
});
