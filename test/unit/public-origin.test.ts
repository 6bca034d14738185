import assert from 'node:assert/strict';
import { test } from 'node:test';
import { onPublicOrigin } from '../../src/http/request.ts';

/**
 * The engine sees every request on the public origin (src/http/request.ts). A request already on
 * it is passed on as it is, recognised from its URL's text without a parse; anything that only
 * starts like it (a port, a longer host name, another scheme) is moved onto the public origin.
 */
const PUBLIC = 'http://mcp.example';

test('a request on the public origin is the same request', () => {
  for (const url of [`${PUBLIC}/abc/mcp`, `${PUBLIC}/`, `${PUBLIC}/abc/mcp?x=1`]) {
    const request = new Request(url);
    assert.equal(onPublicOrigin(request, PUBLIC), request, url);
    assert.equal(onPublicOrigin(request, `${PUBLIC}/`), request, `${url} with PUBLIC_URL ending in /`);
  }
});

test('a request that only starts like the public origin is moved onto it', () => {
  for (const url of ['http://mcp.example:8080/abc/mcp', 'http://mcp.example.evil.test/abc/mcp', 'https://mcp.example/abc/mcp']) {
    const moved = onPublicOrigin(new Request(url, { headers: { 'mcp-session-id': 's1' } }), PUBLIC);
    assert.equal(moved.url, `${PUBLIC}/abc/mcp`, url);
    assert.equal(moved.headers.get('mcp-session-id'), 's1');
  }
});

test('a public URL with a default port, or in capitals, is the same origin as the URL the runtime hands in', () => {
  const request = new Request('https://mcp.example.com/abc/mcp');
  assert.equal(onPublicOrigin(request, 'https://MCP.example.com:443'), request);
});
