import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { removeOnExit } from '../support/exit-cleanup.ts';
import { type Nginx, nginxBinary, siteConfig, startNginx } from '../support/nginx.ts';
import { connectWithOAuth } from '../support/oauth-client.ts';
import { NO_RATE_LIMITS } from '../support/oauth-raw.ts';
import { processes } from '../support/proc.ts';
import { type RedisServer, redisAvailable, startRedis } from '../support/redis-server.ts';
import { freePort, type ServerProcess, startServer } from '../support/server-process.ts';

/**
 * Stdio servers on three replicas sharing one Redis, behind nginx configured as docs/stdio.md
 * says: docs/nginx-replicas.conf plus the two blocks of docs/stdio.md, read from the page itself.
 * The sign-in is spread over the replicas; every MCP request of a grant reaches the one replica
 * whose process holds its key.
 */

const ROOT = join(import.meta.dirname, '..', '..');
const ADMIN = 'admin-token-for-the-stdio-replicas-test-0123';
const missing = !redisAvailable() ? 'redis-server' : !nginxBinary() ? 'nginx' : undefined;
const skip = missing ? `${missing} is not installed (.ci/run installs redis-server and nginx-light)` : false;

/** The nginx blocks of docs/stdio.md: the http-level one and the location, slugs swapped for the test's. */
function documentedBlocks(ports: number[]): { http: string; location: string } {
  const page = readFileSync(join(ROOT, 'docs', 'stdio.md'), 'utf8');
  const blocks = [...page.matchAll(/```nginx\n([\s\S]*?)```/g)].map((match) => match[1]!);
  assert.equal(blocks.length, 2, 'docs/stdio.md has the two nginx blocks');
  let next = 0;
  const http = blocks[0]!.replace(/server 127\.0\.0\.1:\d+;/g, () => `server 127.0.0.1:${ports[next++]};`);
  assert.equal(next, ports.length);
  return { http, location: blocks[1]!.replace('(github|brave-search)', '(keyed)') };
}

function holdersOf(key: string): number[] {
  return processes().flatMap(({ pid }) => {
    try {
      return readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes(`TEST_KEY=${key}`) ? [pid] : [];
    } catch {
      return [];
    }
  });
}

/** The replica whose process tree holds `pid`. */
function replicaOf(replicas: ServerProcess[], pid: number): number {
  const parents = new Map(processes().map((p) => [p.pid, p.ppid]));
  for (let at: number | undefined = pid; at && at > 1; at = parents.get(at)) {
    const index = replicas.findIndex((replica) => replica.pid === at);
    if (index !== -1) return index;
  }
  return -1;
}

describe('stdio servers on three replicas behind nginx (docs/stdio.md)', { skip }, () => {
  let redis: RedisServer;
  const replicas: ServerProcess[] = [];
  let nginx: Nginx;
  let publicUrl: string;

  before(async () => {
    redis = await startRedis();
    const dir = removeOnExit(mkdtempSync(join(tmpdir(), 'key2oauth-stdio-replicas-')));
    const file = join(dir, 'stdio.json');
    writeFileSync(
      file,
      JSON.stringify({
        servers: [
          {
            slug: 'keyed',
            command: 'node',
            args: [join(ROOT, 'test', 'support', 'stdio-key-server.ts')],
            credentials: [{ label: 'Test key', env: 'TEST_KEY' }],
          },
        ],
      }),
    );
    const ports = [await freePort(), await freePort(), await freePort()];
    const nginxPort = await freePort();
    publicUrl = `http://127.0.0.1:${nginxPort}`;
    const env = {
      REDIS_URL: `${redis.url}/4`,
      REDIS_KEY_PREFIX: 'stdio-replicas:',
      PUBLIC_URL: publicUrl,
      TRUST_PROXY: 'true',
      KEY2OAUTH_SECRET: randomBytes(32).toString('base64'),
      STDIO_SERVERS: file,
      ADMIN_TOKEN: ADMIN,
      ...NO_RATE_LIMITS,
    };
    // One after another: each declares the endpoint in the shared store at start.
    for (const port of ports) replicas.push(await startServer(env, { port }));
    const blocks = documentedBlocks(ports);
    const site = siteConfig(ports, nginxPort).replace('    location / {', `${blocks.location}\n    location / {`);
    nginx = await startNginx(`${blocks.http}\n${site}`, [nginxPort]);
  });
  after(async () => {
    await nginx?.stop();
    await Promise.all(replicas.map((replica) => replica.stop()));
    await redis?.stop();
  });

  test('two people sign in through the balancer; each one’s requests all reach the replica running their process', async () => {
    for (const key of ['good-replica-kim', 'good-replica-lee', 'good-replica-max']) {
      const { client } = await connectWithOAuth(`${publicUrl}/keyed/mcp`, key);
      try {
        for (let call = 0; call < 5; call++) {
          const seen = JSON.parse(
            ((await client.callTool({ name: 'whoami', arguments: {} })) as { content: { text: string }[] }).content[0]!.text,
          );
          assert.equal(seen.keyHash, createHash('sha256').update(key).digest('hex'));
        }
        const holders = holdersOf(key);
        assert.ok(holders.length > 0);
        // Every process with this key runs under one replica.
        assert.equal(new Set(holders.map((pid) => replicaOf(replicas, pid))).size, 1);
        assert.notEqual(replicaOf(replicas, holders[0]!), -1);
      } finally {
        await client.close();
      }
    }
    // The sign-ins were spread: every replica served some of the OAuth steps.
    for (const replica of replicas) assert.match(replica.output(), /"path":"\/(authorize|oauth\/token|oauth\/register)"/);
  });

  test('a grant revoked on another replica stops its process on the replica running it', async () => {
    const key = 'good-replica-revoked';
    const headers = { authorization: `Bearer ${ADMIN}` };
    const grantIds = async (url: string) =>
      ((await (await fetch(`${url}/api/slugs/keyed/grants`, { headers })).json()) as { grants: { id: string }[] }).grants.map((g) => g.id);
    const before = new Set(await grantIds(publicUrl));
    const { client } = await connectWithOAuth(`${publicUrl}/keyed/mcp`, key);
    try {
      await client.callTool({ name: 'whoami', arguments: {} });
      const holders = holdersOf(key);
      assert.ok(holders.length > 0);
      const running = replicaOf(replicas, holders[0]!);
      const elsewhere = replicas.find((_, index) => index !== running)!;
      const id = (await grantIds(elsewhere.url)).find((grant) => !before.has(grant));
      assert.ok(id);
      const revoked = await fetch(`${elsewhere.url}/api/slugs/keyed/grants/${id}`, { method: 'DELETE', headers });
      assert.equal(revoked.status, 200, await revoked.text());
      // That replica has no process to stop; the one running it finds the grant gone at its next check.
      const deadline = Date.now() + 3000;
      while (holdersOf(key).length > 0) {
        assert.ok(Date.now() < deadline, 'the process outlived its grant by 3 s');
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    } finally {
      await client.close();
    }
  });
});
