import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { ConfigError, DEFAULTS, OPTIONAL, parseConfig, parseServerConfig, secretProblem } from '../../src/config.ts';

const defaults = { publicUrl: 'http://localhost:8787' };

/** The settings table in docs/configuration.md: variable → its Default cell. */
function readmeDefaults(): Map<string, string> {
  const section = readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8');
  const rows = [...section.matchAll(/^\| `([A-Z0-9_]+)` \| ([^|]*) \|/gm)];
  return new Map(rows.map((row) => [row[1]!, row[2]!.trim()]));
}

test('every setting is in docs/configuration.md with the default the code uses, and every documented one exists', () => {
  const documented = readmeDefaults();
  assert.ok(documented.size >= 20, `the settings table was read (${documented.size} rows)`);
  for (const [name, fallback] of Object.entries(DEFAULTS))
    assert.equal(documented.get(name), `\`${fallback}\``, `documented default of ${name}`);
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
  assert.deepEqual(parseServerConfig({}), {
    port: 8787,
    host: '127.0.0.1',
    dataDir: './data',
    trustProxy: false,
    redisUrl: undefined,
    redisKeyPrefix: 'key2oauth:',
    maxConnections: undefined,
    headersTimeoutMs: 10_000,
    requestTimeoutMs: 60_000,
    maxHeadersCount: 100,
    workers: 1,
    stdioServers: undefined,
    stdioSandbox: 'required',
    stdioMaxProcesses: 100,
    stdioMaxPerEndpoint: 50,
    stdioMemoryMb: 512,
  });
  assert.equal(parseServerConfig({ MAX_CONNECTIONS: '500' }).maxConnections, 500);
  assert.throws(() => parseServerConfig({ MAX_CONNECTIONS: 'lots' }), /MAX_CONNECTIONS must be a whole number/);
  assert.throws(() => parseServerConfig({ HEADERS_TIMEOUT_MS: '70000' }), /HEADERS_TIMEOUT_MS must not be longer than REQUEST_TIMEOUT_MS/);
});

test('STDIO_MEMORY_MB is a whole number of MB from 32, or 0 for no limit', () => {
  assert.equal(parseServerConfig({ STDIO_MEMORY_MB: '256' }).stdioMemoryMb, 256);
  assert.equal(parseServerConfig({ STDIO_MEMORY_MB: '0' }).stdioMemoryMb, 0);
  for (const bad of ['16', '1.5', '512MB', '-1', '2000000']) {
    assert.throws(
      () => parseServerConfig({ STDIO_MEMORY_MB: bad }),
      /STDIO_MEMORY_MB must be a whole number of MB from 32 to 1048576, or 0/,
      bad,
    );
  }
});

test('REDIS_URL takes redis:// and rediss:// with a password and a database number; anything else is refused', () => {
  assert.equal(parseServerConfig({ REDIS_URL: 'redis://127.0.0.1:6379' }).redisUrl, 'redis://127.0.0.1:6379');
  assert.equal(
    parseServerConfig({ REDIS_URL: 'rediss://:p%40ss@cache.example.com:6380/2' }).redisUrl,
    'rediss://:p%40ss@cache.example.com:6380/2',
  );
  assert.equal(parseServerConfig({ REDIS_URL: 'redis://user:pw@host/15' }).redisUrl, 'redis://user:pw@host/15');
  for (const bad of ['127.0.0.1:6379', 'http://host:6379', 'redis://host/db1', 'redis://host/1/2', 'redis://host?db=x', 'redis://']) {
    assert.throws(() => parseServerConfig({ REDIS_URL: bad }), /REDIS_URL must look like redis:\/\/|rediss:\/\//, bad);
  }
  // The message never repeats a password.
  assert.throws(
    () => parseServerConfig({ REDIS_URL: 'http://:topsecret@host' }),
    (error: Error) => !error.message.includes('topsecret'),
  );
  assert.equal(parseServerConfig({ REDIS_KEY_PREFIX: 'team-a:' }).redisKeyPrefix, 'team-a:');
  assert.throws(() => parseServerConfig({ REDIS_KEY_PREFIX: 'has space' }), /REDIS_KEY_PREFIX/);
});

test('server settings are as strict as the others: a typo is refused, never read as false', () => {
  assert.throws(() => parseServerConfig({ TRUST_PROXY: 'ture' }), /TRUST_PROXY must be true or false/);
  assert.throws(() => parseServerConfig({ PORT: '80a' }), /PORT must be a whole number/);
  assert.throws(() => parseServerConfig({ PORT: '70000' }), /PORT must be at most 65535/);
  assert.equal(parseServerConfig({ TRUST_PROXY: 'yes', PORT: '' }).trustProxy, true);
  assert.throws(() => parseConfig({ KEY2OAUTH_SECRET: 'short' }, defaults), /KEY2OAUTH_SECRET must hold at least 32 random bytes/);
});

test('PUBLIC_URL over plain http is refused unless the host is loopback (the OAuth engine would refuse it on every request)', () => {
  for (const url of ['http://192.0.2.2:9105', 'http://mcp.example.com', 'http://10.0.0.5']) {
    assert.throws(
      () => parseConfig({ PUBLIC_URL: url }, defaults),
      (error: Error) => {
        assert.ok(error instanceof ConfigError);
        assert.match(error.message, /PUBLIC_URL must use https/);
        assert.match(error.message, /reverse proxy/);
        return true;
      },
    );
  }
  for (const url of ['http://localhost:8787', 'http://127.0.0.1:9000', 'http://[::1]:8787', 'https://192.0.2.2'])
    assert.doesNotThrow(() => parseConfig({ PUBLIC_URL: url }, defaults), url);
  assert.equal(parseServerConfig({ WORKERS: 'auto' }).workers, 'auto');
  assert.equal(parseServerConfig({ WORKERS: '4' }).workers, 4);
  assert.throws(() => parseServerConfig({ WORKERS: '0' }), /WORKERS must be auto or a whole number from 1 to 256 \(got "0"\)/);
  assert.throws(() => parseServerConfig({ WORKERS: 'all' }), /WORKERS must be auto or a whole number/);
});

test('PUBLIC_URL is the exact issuer: a bare origin, trailing slash dropped, no path', () => {
  assert.equal(parseConfig({ PUBLIC_URL: 'https://MCP.example.com/' }, defaults).publicUrl, 'https://mcp.example.com');
  assert.throws(() => parseConfig({ PUBLIC_URL: 'https://mcp.example.com/base' }, defaults), ConfigError);
  assert.throws(() => parseConfig({ PUBLIC_URL: 'mcp.example.com' }, defaults), ConfigError);
  assert.throws(() => parseConfig({ PUBLIC_URL: 'ftp://mcp.example.com' }, defaults), ConfigError);
});

test('bad values name the variable', () => {
  assert.throws(() => parseConfig({ ALLOW_PRIVATE_UPSTREAMS: 'maybe' }, defaults), /ALLOW_PRIVATE_UPSTREAMS/);
  assert.throws(() => parseConfig({ ACCESS_TOKEN_TTL: '299' }, defaults), /ACCESS_TOKEN_TTL must be at least 300/);
  assert.equal(parseConfig({ ACCESS_TOKEN_TTL: '300' }, defaults).accessTokenTtl, 300);
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

test('KEY2OAUTH_SECRET needs 32 bytes of entropy, not 32 characters', () => {
  const weak = [
    'deadbeefdeadbeefdeadbeefdeadbeef', // 32 hex digits: 16 bytes
    'a'.repeat(64),
    'abababababababababababababababababababababababab',
    'password-password-password-pass',
    '0123456789abcdef0123456789abcdef0123456789abcdef',
  ];
  for (const secret of weak) {
    assert.throws(
      () => parseConfig({ KEY2OAUTH_SECRET: secret }, defaults),
      /KEY2OAUTH_SECRET must hold at least 32 random bytes.*openssl rand -base64 32/,
      secret,
    );
  }
  for (let i = 0; i < 50; i++) {
    for (const secret of [randomBytes(32).toString('base64'), randomBytes(32).toString('base64url'), randomBytes(32).toString('hex')])
      assert.equal(parseConfig({ KEY2OAUTH_SECRET: secret }, defaults).secret, secret);
  }
  assert.equal(secretProblem('KEY2OAUTH_SECRET', randomBytes(48).toString('base64')), undefined);
});
