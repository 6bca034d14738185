import type { Get } from './findings.ts';
import { networkProblem } from './network.ts';

export type JsonAnswer = { ok: true; body: Record<string, unknown> } | { ok: false; problem: string };

/** A JSON document that must answer 200; anything else is described for the step that asked. */
export async function readJson(get: Get, url: string, headers: Record<string, string> = {}): Promise<JsonAnswer> {
  try {
    const response = await get(url, { headers });
    if (response.status !== 200) {
      await response.body?.cancel();
      return { ok: false, problem: `HTTP ${response.status}` };
    }
    const body: unknown = await response.json();
    if (!body || typeof body !== 'object' || Array.isArray(body)) return { ok: false, problem: 'not a JSON object' };
    return { ok: true, body: body as Record<string, unknown> };
  } catch (error) {
    return { ok: false, problem: networkProblem(error).detail };
  }
}
