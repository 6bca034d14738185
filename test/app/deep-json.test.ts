import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type InProcess, startApp } from '../support/in-process.ts';

/** JSON nested far deeper than any real document is refused as bad input, never a 500. */

const deep = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;

describe('deeply nested JSON, in-process', () => {
  let k: InProcess;
  before(async () => {
    k = await startApp();
  });
  after(() => k.close());

  test('a 20,000-deep value in a client registration gets 400, not 500', async () => {
    for (const body of [
      `{"redirect_uris":["https://client.example.net/cb"],"client_name":"x","extra":${deep(20_000)}}`,
      `{"redirect_uris":["https://client.example.net/cb"],"extra":${deep(1_000)}}`,
    ]) {
      const response = await k.fetch('/oauth/register', { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      assert.equal(response.status, 400, await response.clone().text());
      const answer = (await response.json()) as { error: string; error_description: string };
      assert.equal(answer.error, 'invalid_client_metadata');
      assert.match(answer.error_description, /nested/);
    }
  });

  test('the same on endpoint creation and the manage API', async () => {
    const created = await k.createEndpoint(JSON.parse(`{"upstream_url":"https://echo.example.com/mcp"}`));
    assert.equal(created.status, 201);
    const response = await k.fetch('/api/slugs', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: `{"upstream_url":"https://echo.example.com/mcp","x":${deep(20_000)}}`,
    });
    assert.ok(response.status === 400, String(response.status));
  });
});
