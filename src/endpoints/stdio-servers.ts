import { isStdioMemoryMb } from '../config.ts';
import { isOperatorSlug, RESERVED_SLUGS } from '../endpoint-urls.ts';

/**
 * The operator's declaration of stdio MCP servers (the JSON file `STDIO_SERVERS` names,
 * docs/stdio.md): each becomes an endpoint at `{PUBLIC_URL}/{slug}/mcp` whose grants each get a
 * process of their own, with the person's credentials in the declared environment variables.
 * Only this file declares a command: nothing reachable over HTTP can.
 *
 * A file that is not exactly right stops start-up with its line and the reason, so a typo never
 * becomes a server that silently lacks its key.
 */

export interface StdioCredential {
  /** What the consent page asks for ("GitHub token"). */
  label: string;
  /** The environment variable the process reads it from. */
  env: string;
}

export interface StdioServer {
  slug: string;
  name: string;
  command: string;
  args: string[];
  env: Record<string, string>;
  credentials: StdioCredential[];
  /** A process with no request for this long is stopped (it starts again on the next one). */
  idleSeconds: number;
  /** Its process tree's memory limit in MB (0: none); absent, the deployment's STDIO_MEMORY_MB. */
  memoryMb?: number;
}

export const DEFAULT_IDLE_SECONDS = 600;

export class StdioServersError extends Error {
  override name = 'StdioServersError';
}

const SERVER_FIELDS = new Set(['slug', 'name', 'command', 'args', 'env', 'credentials', 'idle_seconds', 'memory_mb']);
const CREDENTIAL_FIELDS = new Set(['label', 'env']);
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

type Path = (string | number)[];

/** Reads the file's text; `file` names it in every message. Throws StdioServersError. */
export function parseStdioServers(text: string, file: string): StdioServer[] {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    // Node's message carries the line and column ("… in JSON at position 12 (line 2 column 3)").
    throw new StdioServersError(`${file}: not valid JSON: ${(error as Error).message}`);
  }
  const fail = (path: Path, reason: string): never => {
    throw new StdioServersError(`${file}:${lineOf(text, path)}: ${describe(path)} ${reason}`);
  };
  if (!isObject(data)) return fail([], 'must be an object {"servers": [...]}');
  for (const key of Object.keys(data)) if (key !== 'servers') fail([key], 'is not a known field (only "servers")');
  if (!Array.isArray(data.servers)) return fail(['servers'], 'must be a list of servers');
  const servers = data.servers.map((raw, index) => parseServer(raw, ['servers', index], fail));
  const seen = new Set<string>();
  servers.forEach((server, index) => {
    if (seen.has(server.slug)) fail(['servers', index, 'slug'], `repeats the slug "${server.slug}"`);
    seen.add(server.slug);
  });
  return servers;
}

function parseServer(raw: unknown, at: Path, fail: (path: Path, reason: string) => never): StdioServer {
  if (!isObject(raw)) return fail(at, 'must be an object');
  for (const key of Object.keys(raw))
    if (!SERVER_FIELDS.has(key)) fail([...at, key], `is not a known field (${[...SERVER_FIELDS].join(', ')})`);
  const slug = raw.slug;
  if (typeof slug !== 'string' || !isOperatorSlug(slug)) {
    fail(
      [...at, 'slug'],
      `must be 3 to 40 characters of a-z, 0-9 and -, and none of ${RESERVED_SLUGS.join(', ')} (got ${JSON.stringify(slug)})`,
    );
  }
  const text = (key: string, required: boolean): string | undefined => {
    const value = raw[key];
    if (value === undefined && !required) return undefined;
    if (typeof value !== 'string' || value.trim() === '' || value.length > 4096) return fail([...at, key], 'must be a non-empty string');
    return value;
  };
  const command = text('command', true)!;
  const name = text('name', false) ?? (slug as string);
  const args = raw.args ?? [];
  if (!Array.isArray(args) || args.some((arg) => typeof arg !== 'string')) fail([...at, 'args'], 'must be a list of strings');
  const env = raw.env ?? {};
  if (!isObject(env)) return fail([...at, 'env'], 'must be an object of names and string values');
  for (const [key, value] of Object.entries(env)) {
    if (!ENV_NAME.test(key)) fail([...at, 'env', key], 'is not an environment variable name (letters, digits, _)');
    if (typeof value !== 'string') fail([...at, 'env', key], 'must be a string');
  }
  const credentials = raw.credentials;
  if (!Array.isArray(credentials) || credentials.length === 0) {
    return fail([...at, 'credentials'], 'must list at least one credential {"label": ..., "env": ...}');
  }
  const parsedCredentials = credentials.map((credential, index): StdioCredential => {
    const where = [...at, 'credentials', index];
    if (!isObject(credential)) return fail(where, 'must be an object {"label": ..., "env": ...}');
    for (const key of Object.keys(credential)) if (!CREDENTIAL_FIELDS.has(key)) fail([...where, key], 'is not a known field (label, env)');
    if (typeof credential.label !== 'string' || credential.label.trim() === '' || credential.label.length > 100) {
      fail([...where, 'label'], 'must be a non-empty string of at most 100 characters');
    }
    if (typeof credential.env !== 'string' || !ENV_NAME.test(credential.env)) {
      fail([...where, 'env'], 'must be an environment variable name (letters, digits, _)');
    }
    if (Object.hasOwn(env, credential.env as string))
      fail([...where, 'env'], 'is also set in "env": a credential comes only from the person');
    return { label: credential.label as string, env: credential.env as string };
  });
  if (new Set(parsedCredentials.map((c) => c.env)).size !== parsedCredentials.length)
    fail([...at, 'credentials'], 'names a variable twice');
  if (parsedCredentials.length > 4) fail([...at, 'credentials'], 'may list at most 4 credentials, as any endpoint');
  const idle = raw.idle_seconds ?? DEFAULT_IDLE_SECONDS;
  if (typeof idle !== 'number' || !Number.isInteger(idle) || idle < 10 || idle > 86_400) {
    fail([...at, 'idle_seconds'], 'must be a whole number of seconds from 10 to 86400');
  }
  const memory = raw.memory_mb;
  if (memory !== undefined && !isStdioMemoryMb(memory)) {
    fail([...at, 'memory_mb'], 'must be a whole number of MB from 32 to 1048576, or 0 for no limit');
  }
  return {
    slug: slug as string,
    name,
    command,
    args: args as string[],
    env: env as Record<string, string>,
    credentials: parsedCredentials,
    idleSeconds: idle as number,
    ...(memory === undefined ? {} : { memoryMb: memory as number }),
  };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describe(path: Path): string {
  if (path.length === 0) return 'the file';
  return path.map((part, index) => (typeof part === 'number' ? `[${part}]` : index === 0 ? part : `.${part}`)).join('');
}

/**
 * The line (1-based) where the value at `path` starts in `text`, which is valid JSON: a walk over
 * its tokens that follows the path. A path deeper than the file (a missing field) gives the line of
 * the deepest value it reaches. Only used for an error message.
 */
export function lineOf(text: string, path: Path): number {
  let position = 0;
  let found = 0;
  const skipSpace = () => {
    while (/\s/.test(text[position] ?? '')) position++;
  };
  const readString = (): string => {
    const start = position++;
    while (text[position] !== '"') position += text[position] === '\\' ? 2 : 1;
    position++;
    return JSON.parse(text.slice(start, position)) as string;
  };
  const skipValue = () => {
    skipSpace();
    if (text[position] === '"') {
      readString();
      return;
    }
    let depth = 0;
    while (position < text.length) {
      const char = text[position]!;
      if (char === '"') {
        readString();
        continue;
      }
      if (depth === 0 && /[\s,\]}]/.test(char)) return;
      if (char === '{' || char === '[') depth++;
      if (char === '}' || char === ']') depth--;
      position++;
      if (depth === 0 && (char === '}' || char === ']')) return;
    }
  };
  // Each container is entered at its opening bracket; its members are skipped until the one wanted.
  const follow = (depth: number): void => {
    skipSpace();
    found = position;
    if (depth === path.length) return;
    const want = path[depth];
    const object = text[position] === '{';
    if (!object && text[position] !== '[') return;
    position++;
    for (let index = 0; ; index++) {
      skipSpace();
      if (text[position] === '}' || text[position] === ']') return;
      let key: string | number = index;
      if (object) {
        key = readString();
        skipSpace();
        position++; // the colon
      }
      if (key === want) {
        follow(depth + 1);
        return;
      }
      skipValue();
      skipSpace();
      if (text[position] === ',') position++;
    }
  };
  follow(0);
  return text.slice(0, found).split('\n').length;
}
