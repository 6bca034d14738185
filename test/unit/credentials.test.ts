import assert from 'node:assert/strict';
import { test } from 'node:test';
import { grantCredentials, withCredentials } from '../../src/oauth/grant-credentials.ts';
import { placeCredentials, requestPreview, templateOf, withoutCredentialParams } from '../../src/upstream/credentials.ts';
import { upstreamRequest } from '../../src/upstream/exchange.ts';
import { describeUpstreamError } from '../../src/upstream/network-error.ts';

/** upstream/credentials.ts: where each value goes, decided once. */

test('a query field replaces a same-named parameter of the URL, so the key is there exactly once', () => {
  const placed = placeCredentials(
    [{ label: 'k', in: 'query', name: 'api_key' }],
    ['secret'],
    'https://u.example/mcp?a=1&api_key=x&api_key=y',
  );
  const url = new URL(placed.url);
  assert.deepEqual(url.searchParams.getAll('api_key'), ['secret']);
  assert.equal(url.searchParams.get('a'), '1');
  assert.deepEqual(placed.headers, []);
});

test('headers with and without prefix, in template order; Basic as one UTF-8 Authorization line', () => {
  const placed = placeCredentials(
    [
      { label: 'a', in: 'header', name: 'X-Api-Key', prefix: '' },
      { label: 'b', in: 'header', name: 'X-Account', prefix: ' Acct ' },
      { label: 'u', in: 'basic_user' },
      { label: 'p', in: 'basic_password' },
    ],
    ['k1', 'a2', 'zoë', 'pw'],
    'https://u.example/mcp',
  );
  assert.deepEqual(placed.headers, [
    ['x-api-key', 'k1'],
    ['x-account', 'Acct a2'],
    ['authorization', `Basic ${Buffer.from('zoë:pw', 'utf8').toString('base64')}`],
  ]);
  assert.equal(placed.url, 'https://u.example/mcp');
  const userOnly = placeCredentials([{ label: 'u', in: 'basic_user' }], ['sk_test'], 'https://u.example/');
  assert.deepEqual(userOnly.headers, [['authorization', `Basic ${Buffer.from('sk_test:').toString('base64')}`]]);
});

test('a target or grant of the older shape reads as one header and one value', () => {
  const target = { url: 'https://u.example/mcp', headerName: 'X-Key', headerPrefix: 'Token', transport: 'streamable-http' as const };
  assert.deepEqual(templateOf(target), [{ label: 'API key', in: 'header', name: 'X-Key', prefix: 'Token' }]);
  assert.deepEqual(grantCredentials({ apiKey: 'old' }), ['old']);
  assert.deepEqual(grantCredentials({ credentials: ['a', 'b'], apiKey: 'ignored' }), ['a', 'b']);
  const request = upstreamRequest(target, ['old'], () => {}, null);
  assert.equal(request.headers['x-key'], 'Token old');
});

test("a grant's values placed again follow the template and URL they are placed by now, never an earlier answer", () => {
  // The same values array on every message (a remembered token check); what it is placed by may change.
  const values = ['secret'];
  const header = (prefix: string, name = 'Authorization') => [{ label: 'API key', in: 'header' as const, name, prefix }];
  assert.deepEqual(placeCredentials(header('Bearer'), values, 'https://u.example/mcp').headers, [['authorization', 'Bearer secret']]);
  // An older target's template is built on every read: equal places, equal answer.
  assert.deepEqual(placeCredentials(templateOf({ headerPrefix: 'Bearer' }), values, 'https://u.example/mcp').headers, [
    ['authorization', 'Bearer secret'],
  ]);
  assert.deepEqual(placeCredentials(header('Token'), values, 'https://u.example/mcp').headers, [['authorization', 'Token secret']]);
  assert.deepEqual(placeCredentials(header('', 'X-Api-Key'), values, 'https://u.example/mcp').headers, [['x-api-key', 'secret']]);
  const query = [{ label: 'k', in: 'query' as const, name: 'key' }];
  assert.equal(placeCredentials(query, values, 'https://u.example/mcp').url, 'https://u.example/mcp?key=secret');
  assert.equal(placeCredentials(query, values, 'https://other.example/mcp').url, 'https://other.example/mcp?key=secret');
});

test('the client never sets a template header or parameter: its headers pass the allowlist, the template writes last', () => {
  const target = {
    url: 'https://u.example/mcp',
    credentials: [
      { label: 'k', in: 'header' as const, name: 'Authorization', prefix: 'Bearer' },
      { label: 'q', in: 'query' as const, name: 'key' },
    ],
    transport: 'streamable-http' as const,
  };
  const request = upstreamRequest(
    target,
    ['real', 'qv'],
    (visit) => {
      visit('authorization', 'Bearer client-token');
      visit('x-api-key', 'client');
    },
    null,
    'https://u.example/messages?sessionId=1&key=client',
  );
  assert.equal(request.headers.authorization, 'Bearer real');
  assert.equal(request.headers['x-api-key'], undefined);
  assert.deepEqual(new URL(request.url).searchParams.getAll('key'), ['qv']);
  assert.equal(new URL(request.url).searchParams.get('sessionId'), '1');
});

test('previews mask every value and name the placeholders; stripped URLs lose only template parameters', () => {
  const fields = [
    { label: 'Key', in: 'query' as const, name: 'k' },
    { label: 'Account', in: 'header' as const, name: 'X-Account', prefix: '' },
  ];
  assert.deepEqual(requestPreview(fields, 'https://u.example/mcp?r=eu', 'POST'), [
    'POST https://u.example/mcp?r=eu&k=<your Key>',
    'X-Account: <your Account>',
  ]);
  assert.deepEqual(requestPreview(fields, 'https://u.example/mcp', 'GET', ['secret-value', 'acct-123']), [
    'GET https://u.example/mcp?k=secr…',
    'X-Account: acct…',
  ]);
  assert.equal(
    withoutCredentialParams(fields, 'https://u.example/messages?sessionId=1&k=secret'),
    'https://u.example/messages?sessionId=1',
  );
});

test('a network error that quotes the URL is never repeated', () => {
  assert.equal(describeUpstreamError(new TypeError('Fetch API cannot load: https://u.example/mcp?k=secret')), 'network error');
  assert.equal(describeUpstreamError(new Error('bad thing ?api_key=secret')), 'network error');
  assert.equal(describeUpstreamError(new Error('socket hang up')), 'socket hang up');
});

test('withCredentials writes the current shape: the values, no older apiKey', () => {
  const updated = withCredentials({ v: 1, slug: 's', apiKey: 'old' }, ['new', 'acct']);
  assert.deepEqual(updated, { v: 1, slug: 's', credentials: ['new', 'acct'] });
  assert.deepEqual(grantCredentials(updated), ['new', 'acct']);
});
