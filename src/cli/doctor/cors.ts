import type { Target } from './endpoint.ts';
import type { Findings, Get } from './findings.ts';
import { networkProblem } from './network.ts';

/** The origin doctor plays a browser client from (the Inspector, web apps). */
export const BROWSER_ORIGIN = 'https://inspector.example';

/** CORS, for browser clients: the preflight, a readable WWW-Authenticate, readable metadata. */
export async function checkCors(get: Get, findings: Findings, target: Target, metadataUrl: string): Promise<void> {
  let problem: string | undefined;
  try {
    problem = await corsProblem(get, target.url, target.kind === 'mcp' ? 'POST' : 'GET', metadataUrl);
  } catch (error) {
    problem = networkProblem(error).detail;
  }
  if (problem)
    findings.fail(
      'CORS',
      problem,
      'Let OPTIONS requests and Access-Control-* headers pass through your reverse proxy unchanged; Key2OAuth answers them itself.',
    );
  else findings.pass('CORS', 'preflight allowed, WWW-Authenticate exposed, metadata readable from a browser');
}

async function corsProblem(get: Get, url: string, method: string, metadataUrl: string): Promise<string | undefined> {
  const preflight = await get(url, {
    method: 'OPTIONS',
    headers: {
      origin: BROWSER_ORIGIN,
      'access-control-request-method': method,
      'access-control-request-headers': 'authorization, content-type, mcp-protocol-version',
    },
  });
  await preflight.body?.cancel();
  if (!preflight.headers.get('access-control-allow-origin'))
    return `the preflight (OPTIONS ${url}) answered HTTP ${preflight.status} without Access-Control-Allow-Origin`;
  const challenge = await get(
    url,
    method === 'POST'
      ? { method, headers: { origin: BROWSER_ORIGIN, 'content-type': 'application/json' }, body: '{}' }
      : { headers: { origin: BROWSER_ORIGIN, accept: 'text/event-stream' } },
  );
  await challenge.body?.cancel();
  const exposed = (challenge.headers.get('access-control-expose-headers') ?? '').toLowerCase();
  if (!challenge.headers.get('access-control-allow-origin') || !(exposed.includes('www-authenticate') || exposed.includes('*')))
    return 'the 401 challenge does not let a browser read WWW-Authenticate (Access-Control-Allow-Origin / Access-Control-Expose-Headers missing)';
  const metadata = await get(metadataUrl, { headers: { origin: BROWSER_ORIGIN } });
  await metadata.body?.cancel();
  if (!metadata.headers.get('access-control-allow-origin')) return 'the resource metadata has no Access-Control-Allow-Origin';
  return undefined;
}
