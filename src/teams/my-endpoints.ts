import { managePath } from '../endpoint-urls.ts';
import { describeEndpoint } from '../endpoints/endpoint.ts';
import { createEndpointStore } from '../endpoints/store.ts';
import { answers } from '../http/errors.ts';
import { htmlResponse, redirect } from '../http/responses.ts';
import { myEndpointsPage } from '../pages/teams.ts';
import type { Platform } from '../platform.ts';
import { signInUrl } from '../signin/routes.ts';
import { signedInPerson } from '../signin/session.ts';
import { mayManageAsPerson } from '../signin/who.ts';

/**
 * `/endpoints`: the signed-in person's endpoints (every one for an admin), each linking to its
 * manage page, which opens for its owner without the manage link. Reads every endpoint record: a
 * team deployment holds hundreds, not millions; an index per owner is the next step if that changes.
 */
export async function myEndpoints(platform: Platform, request: Request): Promise<Response> {
  const { signIn, publicUrl } = platform.config;
  if (!signIn) return answers.notFound();
  const person = await signedInPerson(platform, request);
  if (!person) return redirect(signInUrl('/endpoints'), new Headers(), 303);
  const rows = [];
  for await (const endpoint of createEndpointStore(platform.kv).all()) {
    if (!mayManageAsPerson(person, endpoint.owner)) continue;
    const view = describeEndpoint(endpoint, publicUrl);
    rows.push({
      displayName: endpoint.displayName,
      mcpEndpoint: view.mcp_endpoint,
      upstreamHost: new URL(endpoint.upstreamUrl).host,
      owner: endpoint.owner ?? null,
      createdAt: view.created_at,
      manageUrl: managePath(endpoint.slug),
    });
  }
  rows.sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  return htmlResponse(myEndpointsPage({ email: person.email, admin: person.admin, endpoints: rows }));
}
