/**
 * `npm run deploy:cloudflare`: Key2OAuth on your Cloudflare account, in one command, safe to
 * run again at any time.
 *
 * 1. Checks that wrangler is logged in (`npx wrangler login`, or CLOUDFLARE_API_TOKEN).
 * 2. Finds the KV namespace `{worker name}-OAUTH_KV` or creates it (`--kv-namespace-id <id>`
 *    reuses another one, e.g. the one a Deploy-button install created).
 * 3. Writes an untracked config with that id, .wrangler/deploy/wrangler.jsonc: nothing
 *    account-specific ever lands in the committed wrangler.jsonc.
 * 4. Generates KEY2OAUTH_SECRET when the Worker does not have one yet (an existing one is never
 *    replaced) and uploads it with the deploy.
 * 5. Deploys, keeping vars set in the dashboard, and prints the public URL.
 *
 * `--dry-run` needs no account: it writes the config with a placeholder id and has wrangler
 * bundle and check the Worker without uploading. Other arguments go to `wrangler deploy`
 * (`npm run deploy:cloudflare -- --var PUBLIC_URL:https://mcp.example.com`).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const KV_BINDING = 'OAUTH_KV';
export const SECRET_NAME = 'KEY2OAUTH_SECRET';
/** Stands in for the namespace id in a dry run, where there is no account to ask. */
export const PLACEHOLDER_NAMESPACE_ID = '00000000000000000000000000000000';

export interface WranglerResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs wrangler. `capture` collects its output; otherwise it talks to the terminal (prompts, progress). */
export type RunWrangler = (args: string[], options: { capture: boolean; env?: Record<string, string> }) => Promise<WranglerResult>;

export class DeployError extends Error {
  override name = 'DeployError';
}

export interface DeployOptions {
  root: string;
  runWrangler: RunWrangler;
  dryRun?: boolean;
  kvNamespaceId?: string;
  /** Passed to `wrangler deploy` unchanged. */
  extraArgs?: string[];
  log?: (line: string) => void;
  generateSecret?: () => string;
  /** Where CLOUDFLARE_ACCOUNT_ID is looked up; process.env by default. */
  env?: Record<string, string | undefined>;
}

export interface DeployResult {
  configPath: string;
  namespaceId: string;
  namespaceCreated: boolean;
  secretSet: boolean;
  publicUrl: string | undefined;
}

export async function deploy(options: DeployOptions): Promise<DeployResult> {
  const { root, runWrangler, dryRun = false } = options;
  const log = options.log ?? ((line: string) => console.log(line));
  const source = parseJsonc(readFileSync(join(root, 'wrangler.jsonc'), 'utf8')) as WranglerConfig;
  const workerName = source.name;
  const title = `${workerName}-${KV_BINDING}`;

  if (!dryRun) {
    const whoami = await runWrangler(['whoami', '--json'], { capture: true });
    if (whoami.code !== 0) {
      throw new DeployError(
        'wrangler is not logged in to Cloudflare. Run `npx wrangler login` (or set CLOUDFLARE_API_TOKEN) and try again.',
      );
    }
    // With several accounts wrangler would stop and ask, where this script cannot show the question.
    const accounts = parseAccounts(whoami.stdout);
    if (accounts.length > 1 && !(options.env ?? process.env).CLOUDFLARE_ACCOUNT_ID) {
      throw new DeployError(
        `Your login has ${accounts.length} Cloudflare accounts. Choose one with CLOUDFLARE_ACCOUNT_ID, e.g.\n` +
          accounts.map((account) => `  CLOUDFLARE_ACCOUNT_ID=${account.id} npm run deploy:cloudflare    # ${account.name}`).join('\n'),
      );
    }
  }

  // The KV namespace: the one named, the one from an earlier run, or a new one.
  let namespaceId = options.kvNamespaceId ?? (dryRun ? PLACEHOLDER_NAMESPACE_ID : undefined);
  let namespaceCreated = false;
  if (namespaceId === undefined) {
    const listed = await runWrangler(['kv', 'namespace', 'list'], { capture: true });
    if (listed.code !== 0) throw new DeployError(`Listing KV namespaces failed:\n${listed.stderr || listed.stdout}`);
    namespaceId = findNamespace(parseNamespaceList(listed.stdout), title)?.id;
    if (namespaceId) {
      log(`KV namespace "${title}" exists (${namespaceId}); reusing it.`);
    } else {
      log(`Creating KV namespace "${title}"…`);
      const created = await runWrangler(['kv', 'namespace', 'create', title, '--update-config=false'], { capture: true });
      if (created.code !== 0) throw new DeployError(`Creating the KV namespace failed:\n${created.stderr || created.stdout}`);
      namespaceId = parseCreatedNamespaceId(created.stdout);
      if (!namespaceId) {
        // The id is in the config snippet wrangler prints; if its wording ever changes, ask again.
        const again = await runWrangler(['kv', 'namespace', 'list'], { capture: true });
        namespaceId = findNamespace(parseNamespaceList(again.stdout), title)?.id;
      }
      if (!namespaceId)
        throw new DeployError(`Created KV namespace "${title}" but could not read its id from wrangler's output:\n${created.stdout}`);
      namespaceCreated = true;
      log(`Created KV namespace "${title}" (${namespaceId}).`);
    }
  }
  if (!/^[0-9a-f]{32}$/.test(namespaceId)) throw new DeployError(`"${namespaceId}" is not a KV namespace id (32 hexadecimal characters).`);

  const configPath = join(root, '.wrangler', 'deploy', 'wrangler.jsonc');
  writeDeployConfig(source, root, configPath, namespaceId);
  log(`Wrote ${relative(root, configPath)} (untracked; holds the namespace id).`);

  const work = mkdtempSync(join(tmpdir(), 'key2oauth-deploy-'));
  try {
    // The secret: generated only when the Worker has none, so a second run keeps the first one.
    let secretsFile: string | undefined;
    if (!dryRun) {
      const secrets = await runWrangler(['secret', 'list', '--format', 'json', '--config', configPath], { capture: true });
      let names: string[];
      if (secrets.code === 0) names = parseSecretNames(secrets.stdout);
      else if (isWorkerNotFound(secrets)) names = [];
      else throw new DeployError(`Listing the Worker's secrets failed:\n${secrets.stderr || secrets.stdout}`);
      if (!names.includes(SECRET_NAME)) {
        secretsFile = join(work, 'secrets.json');
        writeFileSync(secretsFile, JSON.stringify({ [SECRET_NAME]: (options.generateSecret ?? generateSecret)() }), { mode: 0o600 });
        log(`${SECRET_NAME} is not set; a new random one will be uploaded with this deploy.`);
      } else {
        log(`${SECRET_NAME} is already set; keeping it.`);
      }
    }

    const outputFile = join(work, 'wrangler-output.json');
    const args = [
      'deploy',
      '--config',
      configPath,
      // Vars set in the dashboard (PUBLIC_URL, UPSTREAM_ALLOWLIST, …) survive a redeploy.
      '--keep-vars',
      ...(secretsFile ? ['--secrets-file', secretsFile] : []),
      ...(dryRun ? ['--dry-run', '--outdir', join(root, '.wrangler', 'deploy', 'dist')] : []),
      ...(options.extraArgs ?? []),
    ];
    const deployed = await runWrangler(args, { capture: false, env: { WRANGLER_OUTPUT_FILE_PATH: outputFile } });
    if (deployed.code !== 0) throw new DeployError(`wrangler deploy failed (exit code ${deployed.code}).`);

    let publicUrl: string | undefined;
    if (!dryRun) {
      let output = '';
      try {
        output = readFileSync(outputFile, 'utf8');
      } catch {}
      publicUrl = configuredPublicUrl(options.extraArgs) ?? publicUrlFromTargets(parseDeployTargets(output));
    }
    return { configPath, namespaceId, namespaceCreated, secretSet: secretsFile !== undefined, publicUrl };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

// ── wrangler's output ─────────────────────────────────────────────────────────────────────

/** `wrangler whoami --json`: `{"loggedIn": true, "accounts": [{"id": "...", "name": "..."}], …}`. */
export function parseAccounts(stdout: string): { id: string; name: string }[] {
  try {
    const parsed = JSON.parse(stdout.slice(stdout.indexOf('{'))) as { accounts?: { id?: unknown; name?: unknown }[] };
    return (parsed.accounts ?? []).filter(
      (account): account is { id: string; name: string } => typeof account.id === 'string' && typeof account.name === 'string',
    );
  } catch {
    return [];
  }
}

export interface KvNamespace {
  id: string;
  title: string;
}

/** `wrangler kv namespace list` prints the API's namespaces as a JSON array. */
export function parseNamespaceList(stdout: string): KvNamespace[] {
  const start = jsonArrayStart(stdout);
  if (start === -1) throw new DeployError(`Unexpected output from wrangler kv namespace list:\n${stdout}`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(stdout.slice(start, stdout.lastIndexOf(']') + 1));
  } catch {
    throw new DeployError(`Unexpected output from wrangler kv namespace list:\n${stdout}`);
  }
  if (!Array.isArray(parsed)) throw new DeployError('wrangler kv namespace list did not print a list');
  return parsed.filter((item): item is KvNamespace => typeof item?.id === 'string' && typeof item?.title === 'string');
}

export function findNamespace(namespaces: KvNamespace[], title: string): KvNamespace | undefined {
  return namespaces.find((namespace) => namespace.title === title);
}

/** `wrangler kv namespace create` ends with a config snippet holding `"id": "<32 hex>"`. */
export function parseCreatedNamespaceId(stdout: string): string | undefined {
  return /"id"\s*:\s*"([0-9a-f]{32})"/.exec(stdout)?.[1] ?? /\bid\s*=\s*"([0-9a-f]{32})"/.exec(stdout)?.[1];
}

/** `wrangler secret list --format json`: `[{"name": "...", "type": "secret_text"}]`. */
export function parseSecretNames(stdout: string): string[] {
  const start = jsonArrayStart(stdout);
  let parsed: unknown;
  try {
    parsed = start === -1 ? undefined : JSON.parse(stdout.slice(start, stdout.lastIndexOf(']') + 1));
  } catch {}
  if (!Array.isArray(parsed)) throw new DeployError(`Unexpected output from wrangler secret list:\n${stdout}`);
  return parsed.map((secret: { name?: unknown }) => secret?.name).filter((name): name is string => typeof name === 'string');
}

/** Where the JSON array wrangler printed begins: a `[` at the start of a line (a warning's `▲ [WARNING]` is not). */
function jsonArrayStart(stdout: string): number {
  return /^\[/m.exec(stdout)?.index ?? -1;
}

/** A Worker that was never deployed has no secrets yet; wrangler says so and exits 1. */
export function isWorkerNotFound(result: WranglerResult): boolean {
  return /Worker "[^"]*"(?: \(env: [^)]*\))? not found|\[code: 10007\]/.test(result.stdout + result.stderr);
}

/**
 * The deploy's targets from the file wrangler writes to WRANGLER_OUTPUT_FILE_PATH: one JSON
 * object a line; the `deploy` entry lists `targets` (workers.dev URL, custom domains, routes).
 */
export function parseDeployTargets(ndjson: string): string[] {
  const targets: string[] = [];
  for (const line of ndjson.split('\n')) {
    if (!line.trim()) continue;
    let entry: { type?: unknown; targets?: unknown };
    try {
      entry = JSON.parse(line);
    } catch {
      continue;
    }
    if (entry.type === 'deploy' && Array.isArray(entry.targets)) {
      targets.push(...entry.targets.filter((target): target is string => typeof target === 'string'));
    }
  }
  return targets;
}

/**
 * The address clients should use: a custom domain when there is one (wrangler lists it as
 * `mcp.example.com (custom domain)`), otherwise the workers.dev URL.
 */
export function publicUrlFromTargets(targets: string[]): string | undefined {
  const custom = targets.map((target) => /^(\S+) \(custom domain\)$/.exec(target)?.[1]).find(Boolean);
  if (custom) return `https://${custom}`;
  return targets.find((target) => /^https:\/\/\S+\.workers\.dev$/.test(target));
}

function configuredPublicUrl(extraArgs: string[] = []): string | undefined {
  for (let i = 0; i < extraArgs.length; i++) {
    const arg = extraArgs[i]!;
    const value = arg === '--var' ? extraArgs[i + 1] : arg.startsWith('--var=') ? arg.slice(6) : undefined;
    if (value?.startsWith('PUBLIC_URL:')) return value.slice('PUBLIC_URL:'.length);
  }
  return undefined;
}

// ── the generated config ──────────────────────────────────────────────────────────────────

interface WranglerConfig {
  name: string;
  main: string;
  $schema?: string;
  kv_namespaces?: { binding: string; id?: string }[];
  [key: string]: unknown;
}

/** The committed config plus the namespace id, with `main` made relative to the new file's folder. */
export function writeDeployConfig(source: WranglerConfig, root: string, configPath: string, namespaceId: string): void {
  const { $schema: _schema, ...config } = source;
  config.main = relative(dirname(configPath), resolve(root, source.main));
  const bindings = config.kv_namespaces ?? [];
  if (!bindings.some((binding) => binding.binding === KV_BINDING)) throw new DeployError(`wrangler.jsonc has no ${KV_BINDING} KV binding`);
  config.kv_namespaces = bindings.map((binding) => (binding.binding === KV_BINDING ? { ...binding, id: namespaceId } : binding));
  mkdirSync(dirname(configPath), { recursive: true });
  writeFileSync(
    configPath,
    `// Generated by npm run deploy:cloudflare from wrangler.jsonc. Do not commit.\n${JSON.stringify(config, null, 2)}\n`,
  );
}

/** JSON with comments and trailing commas, as wrangler.jsonc allows. */
export function parseJsonc(text: string): unknown {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const char = text[i]!;
    if (char === '"') {
      const start = i;
      for (i++; i < text.length && text[i] !== '"'; i++) if (text[i] === '\\') i++;
      out += text.slice(start, i + 1);
    } else if (char === '/' && text[i + 1] === '/') {
      while (i < text.length && text[i] !== '\n') i++;
      out += '\n';
    } else if (char === '/' && text[i + 1] === '*') {
      i = text.indexOf('*/', i + 2);
      if (i === -1) throw new SyntaxError('Unterminated comment in JSONC');
      i++;
    } else {
      out += char;
    }
  }
  return JSON.parse(out.replace(/,(\s*[\]}])/g, '$1'));
}

export function generateSecret(): string {
  return randomBytes(32).toString('base64url');
}

// ── command line ──────────────────────────────────────────────────────────────────────────

export function wranglerRunner(root: string): RunWrangler {
  const wrangler = join(root, 'node_modules', 'wrangler', 'bin', 'wrangler.js');
  return (args, { capture, env }) =>
    new Promise((done, fail) => {
      const child = spawn(process.execPath, [wrangler, ...args], {
        cwd: root,
        env: { ...process.env, ...env },
        stdio: capture ? ['inherit', 'pipe', 'pipe'] : 'inherit',
      });
      let stdout = '';
      let stderr = '';
      child.stdout?.on('data', (chunk) => (stdout += chunk));
      child.stderr?.on('data', (chunk) => (stderr += chunk));
      child.on('error', fail);
      child.on('close', (code) => done({ code: code ?? 1, stdout, stderr }));
    });
}

export function parseArguments(argv: string[]): { dryRun: boolean; kvNamespaceId?: string; extraArgs: string[] } {
  const extraArgs: string[] = [];
  let dryRun = false;
  let kvNamespaceId: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--dry-run') dryRun = true;
    else if (arg === '--kv-namespace-id') kvNamespaceId = argv[++i];
    else if (arg.startsWith('--kv-namespace-id=')) kvNamespaceId = arg.slice('--kv-namespace-id='.length);
    else extraArgs.push(arg);
  }
  return { dryRun, ...(kvNamespaceId ? { kvNamespaceId } : {}), extraArgs };
}

async function main(): Promise<void> {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
  const { dryRun, kvNamespaceId, extraArgs } = parseArguments(process.argv.slice(2));
  try {
    const result = await deploy({
      root,
      runWrangler: wranglerRunner(root),
      dryRun,
      extraArgs,
      ...(kvNamespaceId ? { kvNamespaceId } : {}),
    });
    if (dryRun) {
      console.log('\nDry run: the Worker was bundled and checked; nothing was created or uploaded.');
      return;
    }
    console.log(
      result.publicUrl
        ? `\nKey2OAuth is live at ${result.publicUrl}`
        : '\nDeployed. wrangler did not report a URL; see the Cloudflare dashboard (Workers & Pages).',
    );
    console.log("Open it, enter your MCP server's URL, and add the endpoint it gives you to your MCP client.");
  } catch (error) {
    if (error instanceof DeployError) {
      console.error(`\ndeploy:cloudflare: ${error.message}`);
      process.exit(1);
    }
    throw error;
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
