import type { Config } from '../config.ts';
import { clientIdentity, type MistakeLimit } from '../http/rate-limit.ts';

/**
 * The key-guessing limits, for every place a key can be tried against our records or an upstream
 * (the consent page, `/access` and its API): what counts, and against what. Only wrong keys count
 * (http/rate-limit.ts `countMistake`); docs/security.md, Key-guessing limits, says why these three.
 *
 * - per sign-in: one app's authorization request (its client and PKCE challenge) from one
 *   address, so a person's own mistakes cost only their own sign-in, never a colleague's behind
 *   the same address;
 * - per address, across sign-ins and `/access`: the ceiling for a guesser who opens fresh sign-ins;
 * - per endpoint, from every address: the ceiling for a guesser with many addresses.
 */
export function keyAttemptLimits(
  config: Config,
  attempt: { address: string; endpoint: string; signIn?: { clientId: string; codeChallenge: string } },
): MistakeLimit[] {
  const { rateLimits } = config;
  return [
    ...(attempt.signIn
      ? [
          {
            bucket: 'authorize',
            limit: rateLimits.authorizeSubmit,
            identity: [attempt.endpoint, attempt.signIn.clientId, attempt.signIn.codeChallenge, clientIdentity(attempt.address)].join(
              '\u0000',
            ),
            tooMany: 'wrong keys were tried in this sign-in',
          },
        ]
      : []),
    {
      bucket: 'authorize-address',
      limit: rateLimits.authorizeSubmitPerAddress,
      identity: attempt.address,
      tooMany: 'wrong keys were tried from your network',
    },
    {
      bucket: 'authorize-endpoint',
      limit: rateLimits.authorizeSubmitPerEndpoint,
      identity: attempt.endpoint,
      tooMany: 'wrong keys were tried on this endpoint',
    },
  ];
}
