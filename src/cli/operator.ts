import { createNodePlatform, type NodePlatform, StorageStartError } from '../adapters/node/platform.ts';
import { ConfigError } from '../config.ts';
import { createLogger } from '../log.ts';
import type { Platform } from '../platform.ts';

/**
 * What the operator commands (`endpoints`, `grants`) share: they open the store the server uses
 * (DATA_DIR's SQLite, the same secret and settings, from the same environment), do one thing, and
 * leave with an exit code scripts can rely on.
 */

export const EXIT = { ok: 0, failed: 1, usage: 2, notFound: 3 } as const;

export const EXIT_CODES_HELP = `Exit codes: 0 done, 1 failed (a bad setting, a refused input), 2 wrong command line,
3 no such endpoint or grant.`;

export class UsageError extends Error {}

/** Runs `work` on the configured store, closing it afterwards; a bad setting is exit 1 with the reason. */
export async function withStore(work: (platform: Platform) => Promise<number>): Promise<number> {
  let opened: NodePlatform;
  try {
    // Commands print their results; the server's log lines (info) would only get in the way.
    opened = await createNodePlatform(process.env, { log: createLogger('warn', (line) => process.stderr.write(`${line}\n`)) });
  } catch (error) {
    if (error instanceof ConfigError || error instanceof StorageStartError) {
      process.stderr.write(`key2oauth: ${error.message}\n`);
      return EXIT.failed;
    }
    throw error;
  }
  try {
    return await work(opened.platform);
  } finally {
    await opened.close();
  }
}

export function print(json: boolean, value: unknown, text: () => string): void {
  process.stdout.write(json ? `${JSON.stringify(value, null, 2)}\n` : `${text()}\n`);
}

/**
 * The command line parsed by `parse`, or the usage exit (the parser's message and the command's
 * help) when it cannot be.
 */
export function parseOr<T>(parse: () => T, help: string): T | number {
  try {
    return parse();
  } catch (error) {
    return fail(`${(error as Error).message}\n\n${help}`, EXIT.usage);
  }
}

export function fail(message: string, code: number = EXIT.failed): number {
  process.stderr.write(`key2oauth: ${message}\n`);
  return code;
}

/** Plain columns for a terminal: each padded to its widest cell. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((header, i) => Math.max(header.length, ...rows.map((row) => (row[i] ?? '').length)));
  return [headers, ...rows]
    .map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  '))
    .join('\n');
}
