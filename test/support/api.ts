import type { Running } from './targets.ts';

/** Creates an endpoint through the JSON API, as a user's script would. */
export async function createEndpoint(server: Running, body: Record<string, unknown>, headers: Record<string, string> = {}) {
  const response = await fetch(`${server.url}/api/slugs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  return { status: response.status, headers: response.headers, body: (await response.json()) as Record<string, string> };
}

/** The same, for suites whose subject is not creation: anything but 201 stops the test. */
export async function mustCreateEndpoint(server: Running, body: Record<string, unknown>): Promise<Record<string, string>> {
  const created = await createEndpoint(server, body);
  if (created.status !== 201) throw new Error(`creating the endpoint answered ${created.status}: ${JSON.stringify(created.body)}`);
  return created.body;
}
