#!/usr/bin/env node
// The `key2oauth` command. Plain JavaScript, so that any Node can start it: the CLI itself is
// TypeScript run by Node's type stripping (22.18 and newer), so on an older Node this re-runs it
// on the Node 24 that `npm ci` installs beside the project.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const entry = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));
const [major, minor] = process.versions.node.split('.').map(Number);
if (major > 22 || (major === 22 && minor >= 18)) {
  await import(entry);
} else {
  const pinned = fileURLToPath(new URL('../node_modules/node/bin/node', import.meta.url));
  if (!existsSync(pinned)) {
    console.error(`key2oauth needs Node 22.18 or newer (this is ${process.version}); run npm ci in ${fileURLToPath(new URL('..', import.meta.url))} first`);
    process.exit(1);
  }
  const child = spawn(pinned, [entry, ...process.argv.slice(2)], { stdio: 'inherit' });
  // A service manager stops us with a signal: pass it on, and leave with the child's status.
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 128 + 15 : 1)));
}
