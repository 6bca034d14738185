import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bearerToken } from '../../src/http/bearer.ts';

test('a Bearer header gives its one token: any case of the scheme, spaces or tabs before it', () => {
  for (const [header, token] of [
    ['Bearer abc', 'abc'],
    ['bearer abc', 'abc'],
    ['BEARER   abc', 'abc'],
    ['Bearer\tabc', 'abc'],
    ['Bearer Ab3dEf6hIj9L:grant:secret', 'Ab3dEf6hIj9L:grant:secret'],
    ['Bearer a-b.c_d~e+f/g==', 'a-b.c_d~e+f/g=='],
  ]) {
    assert.equal(bearerToken(header), token, header);
  }
});

test('anything else is no token: no scheme, another scheme, parameters, trailing space, two credentials', () => {
  for (const header of [
    null,
    undefined,
    '',
    'abc',
    'Bearer',
    'Bearer ',
    'Bearerabc',
    'Basic abc',
    'Bearer abc def',
    'Bearer abc ',
    ' Bearer abc',
    'Bearer abc, Bearer def',
    'Bearer abc,Bearer def',
    'Bearer abc,',
    'Bearer abc\n',
  ]) {
    assert.equal(bearerToken(header), undefined, JSON.stringify(header));
  }
});
