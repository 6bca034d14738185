import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  findNamespace,
  isWorkerNotFound,
  parseCreatedNamespaceId,
  parseDeployTargets,
  parseJsonc,
  parseNamespaceList,
  parseSecretNames,
  publicUrlFromTargets,
} from '../../scripts/deploy-cloudflare.ts';
import { killOnExit } from '../support/exit-cleanup.ts';
import { ACCOUNT_ID, type FakeCloudflare, SUBDOMAIN, startFakeCloudflare } from '../support/fake-cloudflare-api.ts';
import { OFFLINE_WRANGLER_ENV } from '../support/worker-process.ts';

/**
 * `npm run deploy:cloudflare` with the real wrangler, against a fake Cloudflare API: everything
 * but the real upload. The project is mirrored into a temp dir (config and script copied, src
 * and node_modules linked), so the generated config never touches this checkout's .wrangler/.
 */
const REPO = resolve('.');

function mirrorProject(): string {
  const root = mkdtempSync(join(tmpdir(), 'key2oauth-deploy-test-'));
  cpSync(join(REPO, 'wrangler.jsonc'), join(root, 'wrangler.jsonc'));
  mkdirSync(join(root, 'scripts'));
  cpSync(join(REPO, 'scripts', 'deploy-cloudflare.ts'), join(root, 'scripts', 'deploy-cloudflare.ts'));
  symlinkSync(join(REPO, 'src'), join(root, 'src'));
  symlinkSync(join(REPO, 'node_modules'), join(root, 'node_modules'));
  return root;
}

function runDeploy(
  root: string,
  api: FakeCloudflare | undefined,
  args: string[] = [],
  accountId: string | null = ACCOUNT_ID,
): Promise<{ code: number; output: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [join(root, 'scripts', 'deploy-cloudflare.ts'), ...args], {
      cwd: root,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: root,
        WRANGLER_LOG_PATH: join(root, 'logs'),
        // No coverage of the script and wrangler (the report is over src/); Node would otherwise
        // carry NODE_V8_COVERAGE over into this env.
        NODE_V8_COVERAGE: '',
        ...OFFLINE_WRANGLER_ENV,
        ...(api ? { CLOUDFLARE_API_BASE_URL: api.baseUrl, CLOUDFLARE_API_TOKEN: 'test-token' } : {}),
        ...(api && accountId ? { CLOUDFLARE_ACCOUNT_ID: accountId } : {}),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its own process group, with the wrangler it starts: killed together if the test process
      // exits before the script did (a test abandoned by its timeout).
      detached: true,
    });
    const forget = killOnExit(child, { group: true });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    child.on('close', (code) => {
      forget();
      done({ code: code ?? 1, output });
    });
  });
}

describe('npm run deploy:cloudflare, with the real wrangler against a fake Cloudflare API', () => {
  let api: FakeCloudflare;
  let root: string;
  const committedConfig = readFileSync(join(REPO, 'wrangler.jsonc'), 'utf8');

  before(async () => {
    api = await startFakeCloudflare();
    root = mirrorProject();
  });
  after(async () => {
    await api?.close();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  test('the first run creates the KV namespace, uploads a generated secret, deploys and prints the URL', async () => {
    const { code, output } = await runDeploy(root, api);
    assert.equal(code, 0, output);
    assert.deepEqual(
      api.namespaces.map((namespace) => namespace.title),
      ['key2oauth-OAUTH_KV'],
    );
    const namespaceId = api.namespaces[0]!.id;

    assert.equal(api.uploads.length, 1);
    const bindings = api.uploads[0]!.bindings;
    assert.equal(
      bindings.find((binding) => binding.name === 'OAUTH_KV')?.namespace_id,
      namespaceId,
      'the Worker is bound to the namespace just created',
    );
    const secret = bindings.find((binding) => binding.name === 'KEY2OAUTH_SECRET');
    assert.equal(secret?.type, 'secret_text');
    assert.match(secret!.text!, /^[A-Za-z0-9_-]{43}$/, '32 random bytes, base64url');
    assert.ok(!output.includes(secret!.text!), 'the secret is never printed');
    assert.ok(api.uploads[0]!.keepBindings.includes('plain_text'), 'vars set in the dashboard survive (--keep-vars)');

    assert.match(output, new RegExp(`Key2OAuth is live at https://key2oauth\\.${SUBDOMAIN}\\.workers\\.dev`));
    const generated = readFileSync(join(root, '.wrangler', 'deploy', 'wrangler.jsonc'), 'utf8');
    assert.ok(generated.includes(namespaceId), 'the id lives in the generated, untracked config');
    assert.equal(readFileSync(join(root, 'wrangler.jsonc'), 'utf8'), committedConfig, 'the committed config is untouched');
    assert.ok(!committedConfig.includes(namespaceId));
  });

  test('a second run reuses the namespace and keeps the secret', async () => {
    const before = api.uploads[0]!.bindings.find((binding) => binding.name === 'KEY2OAUTH_SECRET')!.text;
    api.requests.length = 0;
    const { code, output } = await runDeploy(root, api);
    assert.equal(code, 0, output);
    assert.equal(api.namespaces.length, 1, 'no second namespace');
    assert.ok(!api.requests.some((request) => request.method === 'POST' && request.path.endsWith('/storage/kv/namespaces')));
    const upload = api.uploads.at(-1)!;
    assert.equal(upload.bindings.find((binding) => binding.name === 'OAUTH_KV')?.namespace_id, api.namespaces[0]!.id);
    assert.equal(
      upload.bindings.find((binding) => binding.name === 'KEY2OAUTH_SECRET'),
      undefined,
      'the existing secret is not replaced',
    );
    assert.ok(before);
    assert.match(output, /KEY2OAUTH_SECRET is already set; keeping it/);
    assert.match(output, /Key2OAuth is live at https:\/\/key2oauth\.example\.workers\.dev/);
  });

  test('without a valid login it stops before creating anything and says how to log in', async (t) => {
    const fresh = await startFakeCloudflare();
    t.after(() => fresh.close());
    fresh.tokenValid = false;
    const otherRoot = mirrorProject();
    t.after(() => rmSync(otherRoot, { recursive: true, force: true }));
    const { code, output } = await runDeploy(otherRoot, fresh);
    assert.equal(code, 1);
    assert.match(output, /wrangler login/);
    assert.equal(fresh.namespaces.length, 0);
    assert.equal(fresh.uploads.length, 0);
  });

  test('a login with several accounts is asked to choose one, and nothing is created', async (t) => {
    const fresh = await startFakeCloudflare();
    t.after(() => fresh.close());
    fresh.accounts.push({ id: 'fedcba9876543210fedcba9876543210', name: 'Second account' });
    const otherRoot = mirrorProject();
    t.after(() => rmSync(otherRoot, { recursive: true, force: true }));
    const { code, output } = await runDeploy(otherRoot, fresh, [], null);
    assert.equal(code, 1);
    assert.match(output, /CLOUDFLARE_ACCOUNT_ID=fedcba9876543210fedcba9876543210 npm run deploy:cloudflare/);
    assert.equal(fresh.namespaces.length, 0);
    assert.equal(fresh.uploads.length, 0);
  });

  test('--dry-run needs no account: it bundles and checks the Worker and calls no API', async (t) => {
    const fresh = await startFakeCloudflare();
    t.after(() => fresh.close());
    const otherRoot = mirrorProject();
    t.after(() => rmSync(otherRoot, { recursive: true, force: true }));
    const { code, output } = await runDeploy(otherRoot, fresh, ['--dry-run']);
    assert.equal(code, 0, output);
    assert.deepEqual(fresh.requests, []);
    assert.ok(existsSync(join(otherRoot, '.wrangler', 'deploy', 'dist', 'worker.js')), 'the bundle was built');
    assert.match(output, /nothing was created or uploaded/);
  });
});

/** Output captured from wrangler 4.164 against the fake API above (kv namespace create/list, secret list). */
describe('reading wrangler output', () => {
  test('kv namespace create: the id comes from the config snippet', () => {
    const created = [
      '',
      ' ⛅️ wrangler 4.164.0',
      '────────────────────',
      'Resource location: remote ',
      '',
      '🌀 Creating namespace with title "key2oauth-OAUTH_KV"',
      '✨ Success!',
      'To access your new KV Namespace in your Worker, add the following snippet to your configuration file:',
      '{',
      '  "kv_namespaces": [',
      '    {',
      '      "binding": "key2oauth_OAUTH_KV",',
      '      "id": "e29b263ab50e42ce9b637fa8370175e8"',
      '    }',
      '  ]',
      '}',
    ].join('\n');
    assert.equal(parseCreatedNamespaceId(created), 'e29b263ab50e42ce9b637fa8370175e8');
    assert.equal(parseCreatedNamespaceId('✨ Success!'), undefined);
  });

  test('kv namespace list: finds the namespace by exact title', () => {
    const listed =
      '[\n  {\n    "id": "e29b263ab50e42ce9b637fa8370175e8",\n    "title": "key2oauth-OAUTH_KV",\n    "supports_url_encoding": true\n  },\n  {\n    "id": "f29b263ab50e42ce9b637fa8370175e8",\n    "title": "key2oauth-OAUTH_KV_preview",\n    "supports_url_encoding": true\n  }\n]\n';
    const namespaces = parseNamespaceList(`▲ [WARNING] something wrangler wanted to say\n${listed}`);
    assert.equal(findNamespace(namespaces, 'key2oauth-OAUTH_KV')?.id, 'e29b263ab50e42ce9b637fa8370175e8');
    assert.equal(findNamespace(parseNamespaceList('[]\n'), 'key2oauth-OAUTH_KV'), undefined);
    assert.throws(() => parseNamespaceList('✘ [ERROR] Authentication error'));
  });

  test('secret list: names, and a Worker that does not exist yet', () => {
    assert.deepEqual(parseSecretNames('[\n  {\n    "name": "KEY2OAUTH_SECRET",\n    "type": "secret_text"\n  }\n]\n'), [
      'KEY2OAUTH_SECRET',
    ]);
    const notFound =
      '\n\x1b[31m✘ \x1b[41;31m[\x1b[41;97mERROR\x1b[41;31m]\x1b[0m \x1b[1mWorker "key2oauth" not found.\x1b[0m\n\n  \n  If this is a new Worker, run `wrangler deploy` first to create it.\n';
    assert.ok(isWorkerNotFound({ code: 1, stdout: '', stderr: notFound }));
    assert.ok(
      !isWorkerNotFound({
        code: 1,
        stdout: '',
        stderr: 'A request to the Cloudflare API (/user/tokens/verify) failed.\n  Invalid API Token [code: 1000]',
      }),
    );
  });

  test('deploy: the URL from the output file, a custom domain preferred', () => {
    const file = [
      '{"type":"wrangler-session","version":1,"wrangler_version":"4.164.0","command_line_args":["deploy"],"timestamp":"2026-11-26T16:34:33.827Z"}',
      '{"type":"deploy","version":1,"worker_name":"key2oauth","worker_tag":null,"version_id":null,"targets":["https://key2oauth.example.workers.dev"],"worker_name_overridden":false,"timestamp":"2026-11-26T16:34:35.345Z"}',
      '',
    ].join('\n');
    const targets = parseDeployTargets(file);
    assert.deepEqual(targets, ['https://key2oauth.example.workers.dev']);
    assert.equal(publicUrlFromTargets(targets), 'https://key2oauth.example.workers.dev');
    assert.equal(publicUrlFromTargets([...targets, 'mcp.example.com (custom domain)']), 'https://mcp.example.com');
    assert.equal(publicUrlFromTargets([]), undefined);
  });

  test('wrangler.jsonc is read with its comments', () => {
    const config = parseJsonc(readFileSync(join(REPO, 'wrangler.jsonc'), 'utf8')) as {
      compatibility_flags: string[];
      kv_namespaces: { id?: string }[];
    };
    assert.ok(config.compatibility_flags.includes('global_fetch_strictly_public'));
    assert.ok(config.compatibility_flags.includes('nodejs_compat'));
    assert.ok(
      config.kv_namespaces.every((namespace) => namespace.id === undefined),
      'no account-specific id is committed',
    );
    assert.deepEqual(parseJsonc('{"a": "// not a comment", /* c */ "b": [1, 2,],}'), { a: '// not a comment', b: [1, 2] });
  });
});
