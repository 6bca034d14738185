import type { GrantView } from '../oauth/grants.ts';
import type { AccessRow } from '../pages/access-table.ts';
import { ALL_TOOLS } from '../upstream/tool-policy.ts';

/** A grant as the accesses table lists it (pages/access-table.ts), on the manage page and the key holder's page. */
export function accessRow(grant: GrantView): AccessRow {
  return {
    id: grant.id,
    clientName: grant.client_name,
    // Restricted accesses say so; the rest are as they always were.
    ...(grant.tools === ALL_TOOLS ? {} : { tools: grant.tools }),
    redirectHost: grant.redirect_host,
    createdAt: grant.created_at,
    lastUsedAt: grant.last_used_at,
  };
}
