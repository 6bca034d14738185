import { parseArgs } from 'node:util';
import { readEvents } from '../audit/trail.ts';
import { parseFilter } from '../teams/audit-routes.ts';
import type { Command } from './command.ts';
import { EXIT, EXIT_CODES_HELP, fail, parseOr, print, table, withStore } from './operator.ts';

const HELP = `Usage: key2oauth audit [options]

The audit trail on this server's store (DATA_DIR or REDIS_URL, same environment as \`key2oauth serve\`),
newest first: endpoints created, changed and deleted, access granted and revoked, sign-ins and refused
sign-ins; who did it (an email, "manage link", "admin token", "key holder", "operator") and what.

Options:
  --actor <who>      only this actor (an email, "manage link", …)
  --action <what>    only this action, or its first part: endpoint, access, sign-in
  --slug <slug>      only this endpoint
  --since <time>     from this time (2026-01-31 or 2026-01-31T12:00:00Z)
  --until <time>     up to this time
  --limit <n>        at most n events (100 unless said, at most 1000)
  --json             print {"events": [...]}, as GET /api/audit does
  --help             this text

${EXIT_CODES_HELP}`;

export const command: Command = {
  help: HELP,
  async run(args) {
    const parsed = parseOr(
      () =>
        parseArgs({
          args,
          strict: true,
          options: Object.fromEntries([
            ...['actor', 'action', 'slug', 'since', 'until', 'limit'].map((name) => [name, { type: 'string' as const }]),
            ['json', { type: 'boolean' as const }],
          ]),
        }),
      HELP,
    );
    if (typeof parsed === 'number') return parsed;
    const { json, ...rest } = parsed.values as Record<string, string | boolean | undefined>;
    // The same filters, in the same words, as GET /api/audit.
    const filter = parseFilter(
      new URLSearchParams(Object.entries(rest).filter((entry): entry is [string, string] => typeof entry[1] === 'string')),
    );
    if (typeof filter === 'string') return fail(filter, EXIT.usage);
    return withStore(async (platform) => {
      const events = await readEvents(platform, filter);
      print(Boolean(json), { events }, () =>
        events.length === 0
          ? 'No events.'
          : table(
              ['WHEN', 'WHO', 'WHAT', 'ENDPOINT', 'DETAIL'],
              events.map((event) => [event.at, event.actor, event.action, event.slug ?? '', event.detail]),
            ),
      );
      return EXIT.ok;
    });
  },
};
