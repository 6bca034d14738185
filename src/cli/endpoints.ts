import { parseArgs } from 'node:util';
import { isSlug, manageLink } from '../endpoint-urls.ts';
import { createEndpoint } from '../endpoints/create.ts';
import { describeEndpoint, endpointPreview } from '../endpoints/endpoint.ts';
import { createEndpointStore } from '../endpoints/store.ts';
import { deleteEndpoint } from '../manage/change.ts';
import { listGrants } from '../oauth/grants.ts';
import type { Platform } from '../platform.ts';
import type { Command } from './command.ts';
import { EXIT, EXIT_CODES_HELP, fail, parseOr, print, table, withStore } from './operator.ts';

const HELP = `Usage: key2oauth endpoints <list|show|create|delete> [options]

Endpoints on this server's store (DATA_DIR, from the same environment as \`key2oauth serve\`).

  list                      every endpoint: slug, name, upstream host, created
  show <slug>               one endpoint and who has access to it
  create --upstream <url>   a new endpoint; prints its URL and its manage link (shown once)
         [--name <text>] [--header <name>] [--prefix <text>] [--transport auto|streamable-http|sse]
         [--credentials '<JSON list>']  where the key goes, as the JSON API's \`credentials\`
                                        (docs/credentials.md), instead of --header/--prefix
  delete <slug>             delete the endpoint and revoke every access to it

Options:
  --json      print JSON instead of text
  --help      this text

${EXIT_CODES_HELP}`;

export const command: Command = {
  help: HELP,
  async run(args) {
    const parsed = parseOr(() => parse(args), HELP);
    if (typeof parsed === 'number') return parsed;
    const { values, positionals } = parsed;
    const [action, ...rest] = positionals;
    const json = values.json ?? false;
    const expect = (count: number) => rest.length === count;
    switch (action) {
      case 'list':
        if (!expect(0)) return fail('endpoints list takes no arguments', EXIT.usage);
        return withStore((platform) => list(platform, json));
      case 'show':
        if (!expect(1)) return fail('Usage: key2oauth endpoints show <slug>', EXIT.usage);
        return withStore((platform) => show(platform, rest[0]!, json));
      case 'delete':
        if (!expect(1)) return fail('Usage: key2oauth endpoints delete <slug>', EXIT.usage);
        return withStore((platform) => remove(platform, rest[0]!, json));
      case 'create': {
        if (!expect(0) || !values.upstream) return fail('Usage: key2oauth endpoints create --upstream <url> [options]', EXIT.usage);
        let credentials: unknown;
        if (values.credentials !== undefined) {
          try {
            credentials = JSON.parse(values.credentials);
          } catch {
            return fail('--credentials must be a JSON list, such as \'[{"in":"query","name":"api_key"}]\'', EXIT.usage);
          }
        }
        const body = {
          upstream_url: values.upstream,
          ...(credentials !== undefined ? { credentials } : {}),
          ...(values.name !== undefined ? { display_name: values.name } : {}),
          ...(values.header !== undefined ? { auth_header_name: values.header } : {}),
          ...(values.prefix !== undefined ? { auth_header_prefix: values.prefix } : {}),
          ...(values.transport !== undefined ? { transport: values.transport } : {}),
        };
        return withStore((platform) => create(platform, body, json));
      }
      default:
        return fail(action ? `unknown action "${action}"\n\n${HELP}` : HELP, EXIT.usage);
    }
  },
};

function parse(args: string[]) {
  return parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: {
      json: { type: 'boolean' },
      upstream: { type: 'string' },
      name: { type: 'string' },
      header: { type: 'string' },
      prefix: { type: 'string' },
      credentials: { type: 'string' },
      transport: { type: 'string' },
    },
  });
}

async function list(platform: Platform, json: boolean): Promise<number> {
  const store = createEndpointStore(platform.kv);
  const endpoints: ReturnType<typeof describeEndpoint>[] = [];
  for await (const endpoint of store.all()) endpoints.push(describeEndpoint(endpoint, platform.config.publicUrl));
  print(json, { endpoints }, () =>
    endpoints.length === 0
      ? 'No endpoints yet.'
      : table(
          ['SLUG', 'NAME', 'UPSTREAM', 'CREATED'],
          endpoints.map((e) => [
            e.slug,
            e.display_name,
            e.transport === 'stdio' ? 'stdio process' : new URL(e.upstream_url).host,
            e.created_at.slice(0, 10),
          ]),
        ),
  );
  return EXIT.ok;
}

async function show(platform: Platform, slug: string, json: boolean): Promise<number> {
  const endpoint = isSlug(slug) ? await createEndpointStore(platform.kv).get(slug) : null;
  if (!endpoint) return fail(`no endpoint "${slug}"`, EXIT.notFound);
  const view = describeEndpoint(endpoint, platform.config.publicUrl);
  const grants = await listGrants(platform, slug);
  print(json, { ...view, grants }, () =>
    [
      `${view.display_name}  ${view.mcp_endpoint}`,
      `upstream   ${view.upstream_url} (${view.transport})`,
      view.auth_header_name !== null
        ? `header     ${view.auth_header_name}: ${view.auth_header_prefix ? `${view.auth_header_prefix} ` : ''}<key>`
        : `sends      ${endpointPreview(endpoint).join('\n           ')}`,
      `created    ${view.created_at}`,
      '',
      grants.length === 0
        ? 'No grants.'
        : table(
            ['GRANT', 'APP', 'TOKENS GO TO', 'CREATED', 'LAST USED'],
            grants.map((g) => [g.id, g.client_name, g.redirect_host ?? '?', g.created_at, g.last_used_at ?? 'never']),
          ),
    ].join('\n'),
  );
  return EXIT.ok;
}

async function create(platform: Platform, body: Record<string, unknown>, json: boolean): Promise<number> {
  const result = await createEndpoint(platform, body);
  if (!result.ok) return fail(result.message);
  const view = describeEndpoint(result.endpoint, platform.config.publicUrl);
  const manageUrl = manageLink(platform.config.publicUrl, result.endpoint.slug, result.manageToken);
  print(json, { ...view, manage_token: result.manageToken, manage_url: manageUrl, warnings: result.warnings }, () =>
    [
      `Created ${view.mcp_endpoint}`,
      `Manage link (shown once; keep it): ${manageUrl}`,
      ...result.warnings.map((warning) => `Warning: ${warning}`),
    ].join('\n'),
  );
  return EXIT.ok;
}

async function remove(platform: Platform, slug: string, json: boolean): Promise<number> {
  const endpoint = isSlug(slug) ? await createEndpointStore(platform.kv).get(slug) : null;
  if (!endpoint) return fail(`no endpoint "${slug}"`, EXIT.notFound);
  const revoked = await deleteEndpoint(platform, slug);
  print(json, { deleted: true, slug, revoked_grants: revoked }, () => `Deleted ${slug}; ${revoked} grant(s) revoked.`);
  return EXIT.ok;
}
