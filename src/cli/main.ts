/**
 * `key2oauth <command>`: the command line. Each command is a module in this folder with a name, a
 * one-line summary, its own `--help` text and a `run` that returns the exit code. Exit codes are
 * for scripts: 0 done, 1 the command failed, 2 the command line was wrong, 3 what it names does not exist.
 *
 * The hooks must be in place before the OAuth engine loads (it imports `cloudflare:workers`), and
 * static imports are evaluated first, so commands come in through dynamic imports.
 */
import { readFileSync } from 'node:fs';
import '../adapters/node/hooks.ts';
import type { Command } from './command.ts';

/** Summaries live here, so that listing the commands loads none of them. */
const COMMANDS: Record<string, { summary: string; load: () => Promise<{ command: Command }> }> = {
  serve: { summary: 'run the server (what npm start runs)', load: () => import('./serve.ts') },
  doctor: {
    summary: 'check that MCP clients can connect to an endpoint, and say how to fix what is wrong',
    load: () => import('./doctor.ts'),
  },
  endpoints: { summary: 'list, show, create or delete endpoints', load: () => import('./endpoints.ts') },
  grants: { summary: 'list or revoke who has access to an endpoint', load: () => import('./grants.ts') },
  audit: { summary: 'who created, changed, authorized or signed in, and when (the audit trail)', load: () => import('./audit.ts') },
  activity: { summary: 'what apps did through an endpoint (method, tool, outcome; never arguments)', load: () => import('./activity.ts') },
};

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === '--version' || name === '-v' || name === 'version') {
    process.stdout.write(`key2oauth ${version()}\n`);
    return 0;
  }
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return name === undefined ? 2 : 0;
  }
  const entry = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!entry) {
    process.stderr.write(`key2oauth: unknown command ${JSON.stringify(name)}\n\n${usage()}`);
    return 2;
  }
  const { command } = await entry.load();
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(`${command.help}\n`);
    return 0;
  }
  return command.run(rest);
}

/** The version in package.json, two folders up from both src/cli/ (a clone) and dist/cli/ (the package). */
function version(): string {
  const manifest = readFileSync(new URL('../../package.json', import.meta.url), 'utf8');
  return (JSON.parse(manifest) as { version: string }).version;
}

function usage(): string {
  const lines = Object.entries(COMMANDS).map(([name, { summary }]) => `  ${name.padEnd(12)}${summary}`);
  return `Usage: key2oauth <command> [options]\n\nCommands:\n${lines.join('\n')}\n\nkey2oauth <command> --help shows a command's options; key2oauth --version prints the version.\n`;
}

process.exitCode = await main(process.argv.slice(2));
