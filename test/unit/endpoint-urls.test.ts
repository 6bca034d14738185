import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  apiGrantPath,
  apiGrantsPath,
  apiPath,
  endpointOfPathname,
  endpointOfTarget,
  endpointPath,
  endpointUrl,
  isEndpointPath,
  isOperatorSlug,
  isSlug,
  manageLink,
  managePath,
  messagesUrl,
  resourceMetadataUrl,
  slugOfEndpointUrl,
} from '../../src/endpoint-urls.ts';

const PUBLIC = 'https://k2o.example.com';
const SLUG = 'Ab3dEf6hIj9L';

test('a slug is exactly 12 characters of [A-Za-z0-9]', () => {
  for (const value of [SLUG, '000000000000', 'zzzzzzzzzzzz']) assert.ok(isSlug(value), value);
  for (const value of [
    '',
    'Ab3dEf6hIj9',
    'Ab3dEf6hIj9LM',
    'Ab3dEf6hIj9-',
    'Ab3dEf6hIj9L\n',
    ' Ab3dEf6hIj9L',
    'Äb3dEf6hIj9L',
    '.well-known',
  ])
    assert.ok(!isSlug(value), JSON.stringify(value));
});

test("an operator slug is 3 to 40 of [a-z0-9-], never one of the app's own first path segments", () => {
  for (const value of ['github', 'brave-search', 'abc', 'a'.repeat(40), 'mcp-tools']) {
    assert.ok(isSlug(value), value);
    assert.ok(isOperatorSlug(value), value);
  }
  for (const value of ['ab', 'a'.repeat(41), 'GitHub', 'git_hub', 'api', 'manage', 'mcp', 'sse', 'oauth', 'created', 'git hub'])
    assert.ok(!isOperatorSlug(value), value);
  assert.deepEqual(endpointOfTarget('/github/mcp'), { slug: 'github', kind: 'mcp' });
  assert.deepEqual(endpointOfPathname('/bridge/brave-search/sse'), { prefix: '/bridge', slug: 'brave-search', kind: 'sse' });
  assert.equal(slugOfEndpointUrl(PUBLIC, `${PUBLIC}/github/mcp/`), 'github');
  for (const path of ['/api/slugs', '/manage/github', '/created/abc', '/assets/app.js', '/oauth/token'])
    assert.ok(!isEndpointPath(path), path);
});

test('a path lies under an endpoint only below a slug', () => {
  for (const path of [`/${SLUG}/mcp`, `/${SLUG}/sse`, `/${SLUG}/messages`, `/${SLUG}/`]) assert.ok(isEndpointPath(path), path);
  for (const path of [`/${SLUG}`, '/api/slugs', `/manage/${SLUG}`, `/x${SLUG}/mcp`, '/.well-known/oauth-authorization-server', '/'])
    assert.ok(!isEndpointPath(path), path);
});

test('a request target names an endpoint URL with or without a query', () => {
  assert.deepEqual(endpointOfTarget(`/${SLUG}/mcp`), { slug: SLUG, kind: 'mcp' });
  assert.deepEqual(endpointOfTarget(`/${SLUG}/mcp?x=1`), { slug: SLUG, kind: 'mcp' });
  assert.deepEqual(endpointOfTarget(`/${SLUG}/sse`), { slug: SLUG, kind: 'sse' });
  for (const target of [
    `/${SLUG}/mcp/`,
    `/${SLUG}/mcpx`,
    `/${SLUG}/messages?to=/x`,
    `/${SLUG}x/mcp`,
    '/ab/mcp',
    '/Short/mcp',
    '/api/mcp',
    `//${SLUG}/mcp`,
  ])
    assert.equal(endpointOfTarget(target), undefined, target);
});

test('a URL path names an endpoint, with what came before the slug apart', () => {
  assert.deepEqual(endpointOfPathname(`/${SLUG}/mcp`), { prefix: '', slug: SLUG, kind: 'mcp' });
  assert.deepEqual(endpointOfPathname(`/${SLUG}/sse/`), { prefix: '', slug: SLUG, kind: 'sse' });
  assert.deepEqual(endpointOfPathname(`/${SLUG}/`), { prefix: '', slug: SLUG });
  assert.deepEqual(endpointOfPathname(`/bridge/${SLUG}/mcp`), { prefix: '/bridge', slug: SLUG, kind: 'mcp' });
  for (const path of [`/${SLUG}/Other`, `/${SLUG}/messages`, '/ab/mcp', '/']) assert.equal(endpointOfPathname(path), undefined, path);
});

test('an endpoint URL from a client or a person names its slug on this deployment only', () => {
  for (const value of [
    endpointUrl(PUBLIC, SLUG),
    endpointUrl(PUBLIC, SLUG, 'sse'),
    `${PUBLIC}/${SLUG}/mcp/`,
    `HTTPS://K2O.EXAMPLE.COM/${SLUG}`,
    `${PUBLIC}/${SLUG}`,
    ` ${PUBLIC}/${SLUG}/mcp `,
    SLUG,
  ])
    assert.equal(slugOfEndpointUrl(PUBLIC, value), SLUG, value);
  for (const value of [
    `${PUBLIC}/bridge/${SLUG}/mcp`,
    `https://other.example.com/${SLUG}/mcp`,
    `http://k2o.example.com/${SLUG}/mcp`,
    `${PUBLIC}/${SLUG}/other`,
    `${PUBLIC}/ab/mcp`,
    PUBLIC,
    `${PUBLIC}/`,
    'Nonsense!',
    '',
    null,
    undefined,
  ])
    assert.equal(slugOfEndpointUrl(PUBLIC, value), undefined, String(value));
});

test('every URL is built on the public URL, and the grammar reads back the endpoint URLs it builds', () => {
  assert.equal(endpointUrl(PUBLIC, SLUG), `${PUBLIC}/${SLUG}/mcp`);
  assert.equal(endpointUrl(PUBLIC, SLUG, 'sse'), `${PUBLIC}/${SLUG}/sse`);
  assert.equal(resourceMetadataUrl(PUBLIC, SLUG), `${PUBLIC}/.well-known/oauth-protected-resource/${SLUG}/mcp`);
  assert.equal(resourceMetadataUrl(PUBLIC, SLUG, 'sse'), `${PUBLIC}/.well-known/oauth-protected-resource/${SLUG}/sse`);
  assert.equal(
    messagesUrl(PUBLIC, SLUG, new URLSearchParams({ to: '/m?a=1', sig: 's' })),
    `${PUBLIC}/${SLUG}/messages?to=%2Fm%3Fa%3D1&sig=s`,
  );
  assert.equal(manageLink(PUBLIC, SLUG, 'tok'), `${PUBLIC}/manage/${SLUG}#token=tok`);
  assert.equal(managePath(SLUG), `/manage/${SLUG}`);
  assert.equal(apiPath(SLUG), `/api/slugs/${SLUG}`);
  assert.equal(apiGrantsPath(SLUG), `/api/slugs/${SLUG}/grants`);
  assert.equal(apiGrantPath(SLUG, 'g1'), `/api/slugs/${SLUG}/grants/g1`);
  for (const kind of ['mcp', 'sse'] as const) {
    assert.deepEqual(endpointOfTarget(endpointPath(SLUG, kind)), { slug: SLUG, kind });
    assert.equal(slugOfEndpointUrl(PUBLIC, endpointUrl(PUBLIC, SLUG, kind)), SLUG);
    assert.ok(isEndpointPath(new URL(endpointUrl(PUBLIC, SLUG, kind)).pathname));
  }
});

test('with `:slug` the paths are the app’s route patterns', () => {
  assert.equal(endpointPath(':slug'), '/:slug/mcp');
  assert.equal(apiGrantPath(':slug', ':grantId'), '/api/slugs/:slug/grants/:grantId');
});
