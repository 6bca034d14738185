/**
 * Fills a Key2OAuth store with `count` endpoints, each with one grant and its tokens, for the growth
 * bench (scale-run.ts). Run as a child with the engine's hooks, on the store a server will then
 * serve (DATA_DIR, or REDIS_URL and REDIS_KEY_PREFIX, and the server's PUBLIC_URL, from the
 * environment):
 *
 *   node --import ./src/adapters/node/hooks.ts scripts/bench/scale-fill.ts COUNT UPSTREAM_URL SAMPLES
 *
 * Every record is the server's own, made by the server's modules on the server's store and secret
 * (createNodePlatform): the endpoint by `createEndpoint` (the API's and the CLI's creation, the
 * upstream's transport check included), a registered client, the grant by the engine's
 * `completeAuthorization` with the metadata the consent page gives it (grants.ts, the keyed hash
 * of the key), and the tokens by the engine's own token endpoint (authorization code + PKCE), with
 * the audit events both write. Only the consent page's HTML and its rate limits are skipped, and
 * the crypto runs on node:crypto's synchronous primitives (fast-subtle.ts: same algorithms, same
 * bytes, 100,000 grants in minutes instead of most of an hour).
 *
 * Prints one JSON line: the tokens of SAMPLES grants spread across the fill (first, last and evenly
 * between), so the bench measures old grants as well as new ones, and how long the fill took.
 */

import { createNodePlatform } from '../../src/adapters/node/platform.ts';
import { ACTORS, recordEvent } from '../../src/audit/trail.ts';
import { pkce } from '../../src/cli/oauth-client.ts';
import { endpointUrl } from '../../src/endpoint-urls.ts';
import { createEndpoint } from '../../src/endpoints/create.ts';
import { upstreamTarget } from '../../src/endpoints/endpoint.ts';
import { engine, type GrantProps, SCOPES, TOKEN_PATH } from '../../src/oauth/engine.ts';
import { grantMetadata } from '../../src/oauth/grants.ts';
import { installFastSubtle } from './fast-subtle.ts';
import { BENCH_KEY } from './key.ts';

/** A sampled grant: the path of its endpoint and the access token a client would send. */
export interface Sample {
  path: string;
  token: string;
}

export interface FillResult {
  samples: Sample[];
  seconds: number;
}

/** Which of `count` grants are sampled: the first, the last, and evenly between. */
export function sampleIndices(count: number, samples: number): Set<number> {
  const picked = new Set<number>();
  const n = Math.min(count, samples);
  for (let i = 0; i < n; i++) picked.add(n === 1 ? 0 : Math.round((i * (count - 1)) / (n - 1)));
  return picked;
}

/** Grants made at once: enough to overlap the store's round trips and the thread pool's crypto. */
const PARALLEL = 24;
const REDIRECT_URI = 'http://127.0.0.1:9/callback';

async function main(): Promise<void> {
  const [countArg, upstreamUrl, samplesArg] = process.argv.slice(2);
  const count = Number(countArg);
  const samples = Number(samplesArg ?? 5);
  if (!Number.isInteger(count) || count < 1 || !upstreamUrl) throw new Error('usage: scale-fill.ts COUNT UPSTREAM_URL [SAMPLES]');
  installFastSubtle();
  const { platform, close } = await createNodePlatform(process.env);
  const publicUrl = platform.config.publicUrl;
  const sampled = sampleIndices(count, samples);
  const found: (Sample | undefined)[] = [];
  const started = performance.now();

  const one = async (index: number): Promise<void> => {
    const created = await createEndpoint(platform, { upstream_url: upstreamUrl, transport: 'streamable-http' }, { actor: ACTORS.operator });
    if (!created.ok) throw new Error(`endpoint not created: ${created.message}`);
    const { endpoint } = created;
    const slug = endpoint.slug;
    const resource = endpointUrl(publicUrl, slug);
    const oauth = engine(platform, slug).helpers();
    const client = await oauth.createClient({
      redirectUris: [REDIRECT_URI],
      clientName: 'bench',
      tokenEndpointAuthMethod: 'none',
      grantTypes: ['authorization_code', 'refresh_token'],
      responseTypes: ['code'],
    });
    const { verifier, challenge } = pkce();
    const props: GrantProps = { v: 1, slug, credentials: [BENCH_KEY], upstream: upstreamTarget(endpoint) };
    const { redirectTo } = await oauth.completeAuthorization({
      request: {
        responseType: 'code',
        clientId: client.clientId,
        redirectUri: REDIRECT_URI,
        scope: SCOPES,
        state: '',
        codeChallenge: challenge,
        codeChallengeMethod: 'S256',
        resource,
      },
      userId: slug,
      metadata: await grantMetadata(platform, slug, [BENCH_KEY], REDIRECT_URI),
      scope: SCOPES,
      props,
      revokeExistingGrants: false,
    });
    await recordEvent(platform, { actor: ACTORS.anyone, action: 'access.granted', slug, detail: `app ${client.clientId}` });
    const code = new URL(redirectTo).searchParams.get('code');
    if (!code) throw new Error(`no code in ${redirectTo}`);
    const answer = await engine(platform, slug).serve(
      new Request(publicUrl + TOKEN_PATH, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'authorization_code',
          code,
          code_verifier: verifier,
          client_id: client.clientId,
          redirect_uri: REDIRECT_URI,
          resource,
        }),
      }),
    );
    const body = (await answer.json()) as { access_token?: string };
    if (!body.access_token) throw new Error(`the token endpoint answered ${answer.status}: ${JSON.stringify(body)}`);
    if (sampled.has(index)) found[index] = { path: new URL(resource).pathname, token: body.access_token };
  };

  let next = 0;
  const worker = async () => {
    while (next < count) await one(next++);
  };
  try {
    await Promise.all(Array.from({ length: Math.min(PARALLEL, count) }, worker));
  } finally {
    await close();
  }
  const result: FillResult = {
    samples: found.filter((sample): sample is Sample => sample !== undefined),
    seconds: (performance.now() - started) / 1000,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

if (import.meta.main) await main();
