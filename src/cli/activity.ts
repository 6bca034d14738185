import { parseArgs } from 'node:util';
import { isSlug } from '../endpoint-urls.ts';
import { createEndpointStore } from '../endpoints/store.ts';
import { activityFilter, activityRows } from '../manage/activity-view.ts';
import { listGrants } from '../oauth/grants.ts';
import type { Command } from './command.ts';
import { EXIT, EXIT_CODES_HELP, fail, parseOr, print, table, withStore } from './operator.ts';

const HELP = `Usage: key2oauth activity <slug> [options]

What apps did through an endpoint, newest first, from this server's store (DATA_DIR, same
environment as \`key2oauth serve\`): when, which access and app, the MCP method, the tool, the
outcome, how long it took and the bytes each way (IN: the request body, OUT: the answer).
Arguments and results are never recorded.

Options:
  --tool NAME        only calls of this tool
  --outcome OUTCOME  ok, refused, jsonrpc_error, client_error or upstream_error
  --access ID        only this access (grant id, as \`key2oauth grants list\` shows)
  --json             print JSON ({"activity": [...]}, as GET /api/slugs/:slug/activity)
  --help             this text

${EXIT_CODES_HELP}`;

export const command: Command = {
  help: HELP,
  async run(args) {
    const parsed = parseOr(
      () =>
        parseArgs({
          args,
          allowPositionals: true,
          options: { json: { type: 'boolean' }, tool: { type: 'string' }, outcome: { type: 'string' }, access: { type: 'string' } },
        }),
      HELP,
    );
    if (typeof parsed === 'number') return parsed;
    const { values, positionals } = parsed;
    const [slug, ...extra] = positionals;
    if (!slug || extra.length > 0) return fail('Usage: key2oauth activity <slug> [--json]', EXIT.usage);
    const filter = activityFilter((name) => (name === 'access_id' ? values.access : values[name as 'tool' | 'outcome']));
    return withStore(async (platform) => {
      if (!isSlug(slug) || !(await createEndpointStore(platform.kv).get(slug))) return fail(`no endpoint "${slug}"`, EXIT.notFound);
      const activity = await activityRows(platform, slug, await listGrants(platform, slug), filter);
      print(values.json ?? false, { activity }, () =>
        activity.length === 0
          ? 'No activity recorded.'
          : table(
              ['AT', 'APP', 'ACCESS', 'METHOD', 'TOOL', 'STATUS', 'ERROR', 'MS', 'IN', 'OUT'],
              activity.map((row) => [
                row.at,
                row.client_name,
                row.access_id,
                row.method,
                row.tool ?? '',
                String(row.status),
                row.error_code === null ? '' : String(row.error_code),
                String(row.duration_ms),
                row.bytes_in === null ? '' : String(row.bytes_in),
                row.bytes_out === null ? '' : String(row.bytes_out),
              ]),
            ),
      );
      return EXIT.ok;
    });
  },
};
