#!/usr/bin/env node
// The `key2oauth` command. Plain JavaScript, so that any Node can start it and say what it needs.
// The npm package carries the CLI as JavaScript in dist/ (built by `npm pack`: Node strips types
// only outside node_modules); a git clone runs the TypeScript in src/ by Node's type stripping.
// Both need Node 22.19 or newer; on an older Node a clone re-runs itself on the Node 24 that
// `npm ci` installs beside the project.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
// A clone has src/ (and maybe a stale dist/ from an earlier npm pack); the package has only dist/.
const source = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));
const built = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
const entry = existsSync(source) ? source : built;
const [major, minor] = process.versions.node.split('.').map(Number);
if (major > 22 || (major === 22 && minor >= 19)) {
  await import(entry);
} else {
  const pinned = fileURLToPath(new URL('../node_modules/node/bin/node', import.meta.url));
  if (!existsSync(pinned)) {
    const remedy = entry === built ? 'install Node 22.19 or newer (nodejs.org, or your package manager)' : `run npm ci in ${root} first`;
    console.error(`key2oauth needs Node 22.19 or newer (this is ${process.version}); ${remedy}`);
    process.exit(1);
  }
  const child = spawn(pinned, [entry, ...process.argv.slice(2)], { stdio: 'inherit' });
  // A service manager stops us with a signal: pass it on, and leave with the child's status.
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 128 + 15 : 1)));
}
