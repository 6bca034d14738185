import { sha256Hex } from '../crypto.ts';
import { pageError } from '../http/errors.ts';
import { accessLink } from '../pages/access.ts';
import type { Platform } from '../platform.ts';

/**
 * A consent page approves its authorization request once. Back after Approve shows the page again
 * (a fresh form for the same request), a cached page posts its old form again, a second tab holds
 * a form of its own: without this, each would issue another code, and the app would be listed
 * twice. The request is named by its client and PKCE challenge, which a client makes anew for
 * every authorization (RFC 7636 §4.1), so a later sign-in of the same app is a new request.
 *
 * Two records, both keyed by a hash of the request: a counter that only the first approval finds
 * at 1 (atomic on every store, so two submissions at once cannot both pass), and, once the code
 * is issued, what the "already approved" page says (the app's name and where its code went),
 * which the consent page's GET and POST both read. Both outlive the code (ten minutes).
 */

const PREFIX = 'k2o:approved:';
const KEPT_SECONDS = 3600;

export interface Requested {
  clientId: string;
  codeChallenge?: string;
}

export interface Approval {
  clientName: string;
  /** Where the code went: `claude.ai`, or `cursor:` for an app's own link. */
  redirectHost: string;
  /** The app's https origin, when it has one to go back to. */
  appOrigin?: string;
  endpointUrl: string;
}

async function requestKey(requested: Requested): Promise<string | undefined> {
  if (!requested.codeChallenge) return undefined;
  return sha256Hex(`${requested.clientId}\u0000${requested.codeChallenge}`);
}

/** The request named by the consent form's URL (its query is the authorization request's). */
export function requestedIn(url: URL): Requested | undefined {
  const clientId = url.searchParams.get('client_id');
  const codeChallenge = url.searchParams.get('code_challenge');
  return clientId && codeChallenge ? { clientId, codeChallenge } : undefined;
}

/** What was approved for this request, if it was. */
export async function approvalOf(platform: Platform, requested: Requested | undefined): Promise<Approval | null> {
  const key = requested && (await requestKey(requested));
  return key ? ((await platform.kv.get(PREFIX + key, 'json')) as Approval | null) : null;
}

/** True for the one submission that may approve this request; false for every later one. */
export async function claimApproval(platform: Platform, requested: Requested): Promise<boolean> {
  const key = await requestKey(requested);
  if (!key) return true;
  const { count } = await platform.counters.increment(`${PREFIX}claim:${key}`, KEPT_SECONDS);
  return count === 1;
}

export async function keepApproval(platform: Platform, requested: Requested, approval: Approval): Promise<void> {
  const key = await requestKey(requested);
  if (key) await platform.kv.put(PREFIX + key, JSON.stringify(approval), { expirationTtl: KEPT_SECONDS });
}

/** The page for a second submission (or a Back to the page) of an approved request: nothing more is issued. */
export function alreadyApproved(approval: Approval | null, headers?: Headers): Promise<Response> {
  const app = approval?.clientName ?? 'The app';
  const where = approval ? ` (${approval.redirectHost})` : '';
  return pageError(
    409,
    'Already approved',
    `${app}${where} was already approved from this page, so nothing was approved again.`,
    `Go back to ${approval?.clientName ?? 'the app'}: it received the approval and is connected. If it is not, start connecting again from the app; to see or revoke this access, use the link below with your key.`,
    headers,
    [
      approval?.appOrigin
        ? { href: approval.appOrigin, label: `Back to ${approval.redirectHost}` }
        : { href: accessLink(approval?.endpointUrl), label: 'See or revoke this access' },
    ],
  );
}
