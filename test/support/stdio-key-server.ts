import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';

/**
 * A stdio MCP server that needs its key in the environment, as real ones do
 * (`GITHUB_PERSONAL_ACCESS_TOKEN`, …): it refuses to start without one that begins with `good-`,
 * and its tools tell a test what it can see: a hash of its own key, the names in its environment,
 * and what it finds reading every other process's /proc/PID/environ.
 */
const key = process.env.TEST_KEY ?? '';
if (!key.startsWith('good-')) {
  process.stderr.write(`invalid TEST_KEY ${key}\n`);
  process.exit(2);
}
process.stderr.write(`started with key ${key}\n`);
// A server that takes too much memory at start (declared with HOG_AT_START in its env): it never answers.
if (process.env.HOG_AT_START) {
  const held: Buffer[] = [];
  for (let step = 0; step < 20; step++) held.push(Buffer.allocUnsafe(20 * 1024 * 1024).fill(1));
  await new Promise(() => {});
}

const server = new McpServer({ name: 'stdio-key-server', version: '1.0.0' });
const text = (value: unknown) => ({ content: [{ type: 'text' as const, text: JSON.stringify(value) }] });

server.registerTool('whoami', { description: 'What this process sees' }, () => {
  const environs: { pid: string; readable: boolean; hasKey: boolean }[] = [];
  for (const pid of readdirSync('/proc').filter((entry) => /^\d+$/.test(entry))) {
    if (Number(pid) === process.pid) continue;
    try {
      const environ = readFileSync(`/proc/${pid}/environ`, 'utf8');
      environs.push({ pid, readable: true, hasKey: environ.includes('TEST_KEY=') && !environ.includes(`TEST_KEY=${key}\0`) });
    } catch {
      environs.push({ pid, readable: false, hasKey: false });
    }
  }
  return text({
    keyHash: createHash('sha256').update(key).digest('hex'),
    envNames: Object.keys(process.env).sort(),
    pid: process.pid,
    uid: process.getuid?.(),
    otherKeysSeen: environs.filter((e) => e.hasKey).length,
    processesSeen: environs.length,
  });
});

server.registerTool('crash', { description: 'Exits at once' }, () => {
  setImmediate(() => process.exit(3));
  return new Promise(() => {});
});

server.registerTool('leak', { description: 'Prints its key to stderr' }, () => {
  process.stderr.write(`debug: calling the API with ${key} now\n`);
  return text({ ok: true });
});

// Memory it keeps: a process over its memory limit is stopped by the supervisor (docs/stdio.md).
const kept: Buffer[] = [];
server.registerTool('hog', { description: 'Takes 400 MB, 20 MB every 50 ms, and keeps it' }, async () => {
  for (let step = 0; step < 20; step++) {
    // Filled, so every page is resident (an untouched allocation would not count in VmRSS).
    kept.push(Buffer.allocUnsafe(20 * 1024 * 1024).fill(step + 1));
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return text({ keptMb: kept.length * 20 });
});

server.registerTool('read-file', { description: 'Reads a file', inputSchema: {} }, () => text({}));

await server.connect(new StdioServerTransport());
