import assert from 'node:assert/strict';
import { test } from 'node:test';
import { lineOf, parseStdioServers, StdioServersError } from '../../src/endpoints/stdio-servers.ts';

const GOOD = `{
  "servers": [
    {
      "slug": "github",
      "name": "GitHub",
      "command": "npx",
      "args": ["-y", "@modelcontextprotocol/server-github"],
      "env": {"LOG_LEVEL": "warn"},
      "credentials": [{"label": "GitHub token", "env": "GITHUB_PERSONAL_ACCESS_TOKEN"}],
      "idle_seconds": 600
    },
    {"slug": "brave-search", "command": "npx", "credentials": [{"label": "Brave API key", "env": "BRAVE_API_KEY"}]}
  ]
}`;

test('a well-formed file gives one server per entry, with defaults filled in', () => {
  const servers = parseStdioServers(GOOD, 'stdio.json');
  assert.deepEqual(
    servers.map((s) => [s.slug, s.name, s.command, s.args.length, s.idleSeconds, s.credentials[0]!.env]),
    [
      ['github', 'GitHub', 'npx', 2, 600, 'GITHUB_PERSONAL_ACCESS_TOKEN'],
      ['brave-search', 'brave-search', 'npx', 0, 600, 'BRAVE_API_KEY'],
    ],
  );
});

/** The error for `text`, which must be refused. */
function refusal(text: string): string {
  try {
    parseStdioServers(text, 'stdio.json');
  } catch (error) {
    assert.ok(error instanceof StdioServersError);
    return error.message;
  }
  assert.fail('accepted');
}

test('a bad file is refused with its line and the reason', () => {
  assert.match(refusal('{"servers": [\n{"slug": "x",}]}'), /^stdio\.json: not valid JSON: .*line 2/);
  assert.equal(
    refusal(GOOD.replace('"slug": "github"', '"slug": "GitHub"')),
    'stdio.json:4: servers[0].slug must be 3 to 40 characters of a-z, 0-9 and -, and none of access, api, assets, audit, authorize, created, endpoints, healthz, login, logout, manage, mcp, messages, metrics, oauth, readyz, revoke, self-host, sse (got "GitHub")',
  );
  assert.match(refusal(GOOD.replace('"brave-search"', '"github"')), /^stdio\.json:12: servers\[1\]\.slug repeats the slug "github"$/);
  assert.match(
    refusal(GOOD.replace('"idle_seconds": 600', '"idle_seconds": "600"')),
    /^stdio\.json:10: servers\[0\]\.idle_seconds must be/,
  );
  assert.match(
    refusal(GOOD.replace('"env": "BRAVE_API_KEY"', '"env": "BRAVE API KEY"')),
    /^stdio\.json:12: servers\[1\]\.credentials\[0\]\.env must be/,
  );
  assert.match(refusal(GOOD.replace('"args"', '"argv"')), /^stdio\.json:7: servers\[0\]\.argv is not a known field/);
  assert.match(
    refusal(GOOD.replace('"command": "npx", "cred', '"cred')),
    /^stdio\.json:12: servers\[1\]\.command must be a non-empty string$/,
  );
  assert.match(
    refusal(GOOD.replace('{"LOG_LEVEL": "warn"}', '{"GITHUB_PERSONAL_ACCESS_TOKEN": "x"}')),
    /^stdio\.json:9: .*also set in "env"/,
  );
  assert.match(refusal('{"servers": {}}'), /^stdio\.json:1: servers must be a list/);
  assert.match(refusal('[]'), /^stdio\.json:1: the file must be an object/);
  assert.match(refusal(GOOD.replace('"slug": "github"', '"slug": "api"')), /servers\[0\]\.slug must be/);
});

test("memory_mb sets a server's own memory limit (0: none); without it, the deployment's STDIO_MEMORY_MB applies", () => {
  const [github, brave] = parseStdioServers(GOOD.replace('"idle_seconds": 600', '"idle_seconds": 600, "memory_mb": 256'), 'stdio.json');
  assert.equal(github!.memoryMb, 256);
  assert.equal(brave!.memoryMb, undefined);
  assert.equal(parseStdioServers(GOOD.replace('"idle_seconds": 600', '"idle_seconds": 600, "memory_mb": 0'), 'stdio.json')[0]!.memoryMb, 0);
  for (const bad of ['16', '"256"', '256.5', '-1']) {
    assert.match(
      refusal(GOOD.replace('"idle_seconds": 600', `"idle_seconds": 600, "memory_mb": ${bad}`)),
      /^stdio\.json:10: servers\[0\]\.memory_mb must be a whole number of MB from 32 to 1048576, or 0 for no limit$/,
      bad,
    );
  }
});

test('lineOf follows a path through nested values', () => {
  const text = '{\n "a": [1,\n {"b": "x,]}"},\n {"c": [true,\n null]}]}';
  assert.equal(lineOf(text, ['a', 1, 'b']), 3);
  assert.equal(lineOf(text, ['a', 2, 'c', 1]), 5);
  assert.equal(lineOf(text, ['a', 2, 'missing']), 4);
});

test('a server may take 1 to 4 values, each in a variable of its own, as any endpoint takes 1 to 4 fields', () => {
  const pair = '[{"label": "App id", "env": "APP_ID"}, {"label": "App secret", "env": "APP_SECRET"}]';
  const [server] = parseStdioServers(`{"servers": [{"slug": "pair", "command": "x", "credentials": ${pair}}]}`, 'stdio.json');
  assert.deepEqual(
    server!.credentials.map((credential) => credential.env),
    ['APP_ID', 'APP_SECRET'],
  );
  const five = JSON.stringify(Array.from({ length: 5 }, (_, i) => ({ label: `v${i}`, env: `V${i}` })));
  assert.match(refusal(`{"servers": [{"slug": "five", "command": "x", "credentials": ${five}}]}`), /credentials may list at most 4/);
});
