import { parseArgs } from 'node:util';
import { isSlug } from '../endpoint-urls.ts';
import { createEndpointStore } from '../endpoints/store.ts';
import { engine } from '../oauth/engine.ts';
import { listGrants, revokeGrant } from '../oauth/grants.ts';
import type { Command } from './command.ts';
import { EXIT, EXIT_CODES_HELP, fail, parseOr, print, table, withStore } from './operator.ts';

const HELP = `Usage: key2oauth grants <list|revoke> <slug> [options]

Who has access to an endpoint, on this server's store (DATA_DIR, same environment as \`key2oauth serve\`).

  list <slug>                   every grant: id, app, where its tokens go, created, last used
  revoke <slug> <grant-id>      take one grant back: its app is refused from its next request
  revoke <slug> --all           take every grant on the endpoint back

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
    const [action, slug, grantId, ...extra] = positionals;
    const json = values.json ?? false;
    if (action !== 'list' && action !== 'revoke') return fail(action ? `unknown action "${action}"\n\n${HELP}` : HELP, EXIT.usage);
    if (!slug || extra.length > 0)
      return fail(`Usage: key2oauth grants ${action} <slug>${action === 'revoke' ? ' <grant-id>|--all' : ''}`, EXIT.usage);
    if (action === 'list' && (grantId || values.all)) return fail('grants list takes only the slug', EXIT.usage);
    if (action === 'revoke' && Boolean(grantId) === Boolean(values.all)) return fail('Name one grant id, or --all', EXIT.usage);

    return withStore(async (platform) => {
      if (!isSlug(slug) || !(await createEndpointStore(platform.kv).get(slug))) return fail(`no endpoint "${slug}"`, EXIT.notFound);
      if (action === 'list') {
        const grants = await listGrants(platform, slug);
        print(json, { grants }, () =>
          grants.length === 0
            ? 'No grants.'
            : table(
                ['GRANT', 'APP', 'TOKENS GO TO', 'CREATED', 'LAST USED'],
                grants.map((g) => [g.id, g.client_name, g.redirect_host ?? '?', g.created_at, g.last_used_at ?? 'never']),
              ),
        );
        return EXIT.ok;
      }
      if (values.all) {
        const revoked = await engine(platform, slug).revokeAllGrants();
        print(json, { revoked_grants: revoked }, () => `Revoked ${revoked} grant(s).`);
        return EXIT.ok;
      }
      if (!(await revokeGrant(platform, slug, grantId!))) return fail(`endpoint ${slug} has no grant "${grantId}"`, EXIT.notFound);
      print(json, { revoked_grants: 1 }, () => 'Revoked 1 grant.');
      return EXIT.ok;
    });
  },
};

function parse(args: string[]) {
  return parseArgs({ args, allowPositionals: true, strict: true, options: { json: { type: 'boolean' }, all: { type: 'boolean' } } });
}
