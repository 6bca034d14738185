import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { ConfigError, DEFAULTS, OPTIONAL, parseConfig, parseServerConfig } from '../../src/config.ts';

const defaults = { publicUrl: 'http://localhost:8787' };

/** The README's Configuration table: variable → its Default cell. */
function readmeDefaults(): Map<string, string> {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const section = readme.slice(readme.indexOf('## Configuration'), readme.indexOf('\n## ', readme.indexOf('## Configuration') + 1));
  const rows = [...section.matchAll(/^\| `([A-Z0-9_]+)` \| ([^|]*) \|/gm)];
  return new Map(rows.map((row) => [row[1]!, row[2]!.trim()]));
}

test('every setting is in the README with the default the code uses, and every documented one exists', () => {
  const documented = readmeDefaults();
  assert.ok(documented.size >= 20, `the README table was read (${documented.size} rows)`);
  for (const [name, fallback] of Object.entries(DEFAULTS))
    assert.equal(documented.get(name), `\`${fallback}\``, `README default of ${name}`);
  for (const name of OPTIONAL) assert.ok(documented.has(name), `${name} is documented`);
  for (const name of documented.keys())
    assert.ok(name in DEFAULTS || (OPTIONAL as readonly string[]).includes(name), `${name} is a setting of src/config.ts`);
});

test('defaults as parsed', () => {
  const config = parseConfig({}, defaults);
  assert.equal(config.publicUrl, 'http://localhost:8787');
  assert.equal(config.allowPrivateUpstreams, false);
  assert.equal(config.accessTokenTtl, 3600);
  assert.equal(config.refreshTokenTtl, 30 * 24 * 3600);
  assert.equal(config.adminToken, undefined);
  assert.deepEqual(parseServerConfig({}), { port: 8787, host: '127.0.0.1', dataDir: './data', trustProxy: false, workers: 1 });
});

test('server settings are as strict as the others: a typo is refused, never read as false', () => {
  assert.throws(() => parseServerConfig({ TRUST_PROXY: 'ture' }), /TRUST_PROXY must be true or false/);
  assert.throws(() => parseServerConfig({ PORT: '80a' }), /PORT must be a whole number/);
  assert.throws(() => parseServerConfig({ PORT: '70000' }), /PORT must be at most 65535/);
  assert.equal(parseServerConfig({ TRUST_PROXY: 'yes', PORT: '' }).trustProxy, true);
  assert.equal(parseServerConfig({ WORKERS: 'auto' }).workers, 'auto');
  assert.equal(parseServerConfig({ WORKERS: '4' }).workers, 4);
  assert.throws(() => parseServerConfig({ WORKERS: '0' }), /WORKERS must be auto or a whole number from 1 to 256 \(got "0"\)/);
  assert.throws(() => parseServerConfig({ WORKERS: 'all' }), /WORKERS must be auto or a whole number/);
  assert.throws(() => parseConfig({ KEY2OAUTH_SECRET: 'short' }, defaults), /KEY2OAUTH_SECRET must be at least 32/);
});

test('PUBLIC_URL is the exact issuer: a bare origin, trailing slash dropped, no path', () => {
  assert.equal(parseConfig({ PUBLIC_URL: 'https://MCP.example.com/' }, defaults).publicUrl, 'https://mcp.example.com');
  assert.throws(() => parseConfig({ PUBLIC_URL: 'https://mcp.example.com/base' }, defaults), ConfigError);
  assert.throws(() => parseConfig({ PUBLIC_URL: 'mcp.example.com' }, defaults), ConfigError);
  assert.throws(() => parseConfig({ PUBLIC_URL: 'ftp://mcp.example.com' }, defaults), ConfigError);
});

test('bad values name the variable', () => {
  assert.throws(() => parseConfig({ ALLOW_PRIVATE_UPSTREAMS: 'maybe' }, defaults), /ALLOW_PRIVATE_UPSTREAMS/);
  assert.throws(() => parseConfig({ ACCESS_TOKEN_TTL: '30' }, defaults), /ACCESS_TOKEN_TTL must be at least 60/);
  assert.throws(() => parseConfig({ RATE_LIMIT_CREATE: 'lots' }, defaults), /RATE_LIMIT_CREATE/);
  assert.throws(() => parseConfig({ LOG_LEVEL: 'loud' }, defaults), /LOG_LEVEL/);
});

test('lists and limits parse', () => {
  const config = parseConfig(
    { UPSTREAM_ALLOWLIST: 'A.example.com, *.b.example.com', RATE_LIMIT_AUTHORIZE: '5/60', RATE_LIMIT_CREATE: '0' },
    defaults,
  );
  assert.deepEqual(config.upstreamAllowlist, ['a.example.com', '*.b.example.com']);
  assert.deepEqual(config.rateLimits.authorizeSubmit, { limit: 5, windowSeconds: 60 });
  assert.equal(config.rateLimits.createEndpoint.limit, 0);
});
