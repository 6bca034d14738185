import { readChallenge } from './doctor/challenge.ts';
import { checkCors } from './doctor/cors.ts';
import { checkHttps, readTarget } from './doctor/endpoint.ts';
import { doctorFetch, Findings, type Step } from './doctor/findings.ts';
import { checkRegistrations } from './doctor/registrations.ts';
import { readResourceMetadata } from './doctor/resource-metadata.ts';
import { readServerMetadata } from './doctor/server-metadata.ts';
import { signInWithKey } from './doctor/sign-in.ts';
import { checkStreaming } from './doctor/streaming.ts';

export type { Step } from './doctor/findings.ts';

/**
 * What `key2oauth doctor` checks: the path each MCP client takes against a deployment, from the
 * outside, through the URL users paste, one step per file in doctor/. Every step says what it saw
 * and, when something is wrong, what to change. It is an ordinary HTTP client run by the operator
 * against their own server, so it uses a plain fetch (handed in, so tests can point it anywhere),
 * not the upstream guard; and it trusts what the server says only as far as the server's own
 * origin: an issuer or OAuth endpoint anywhere else stops it before anything is sent there.
 */

export interface DoctorOptions {
  endpoint: string;
  /** The key, or every value of a credential template in its order; with one, doctor signs in. */
  credentials?: string[];
  /** The same as `credentials: [apiKey]`. */
  apiKey?: string;
  fetch?: typeof fetch;
}

export async function diagnose(options: DoctorOptions): Promise<Step[]> {
  const get = doctorFetch(options.fetch ?? fetch);
  const findings = new Findings();
  const target = readTarget(findings, options.endpoint);
  if (!target) return findings.steps;
  checkHttps(findings, target);
  // Where doctor must stop, a step returns nothing: what follows would rest on what it refused.
  const metadataUrl = await readChallenge(get, findings, target);
  if (!metadataUrl) return findings.steps;
  const issuer = await readResourceMetadata(get, findings, target, metadataUrl);
  if (!issuer) return findings.steps;
  const server = await readServerMetadata(get, findings, target, issuer);
  if (!server) return findings.steps;
  await checkCors(get, findings, target, metadataUrl);
  const registered = await checkRegistrations(get, findings, target, server);
  await checkStreaming(get, findings, target);
  const values = options.credentials ?? (options.apiKey ? [options.apiKey] : []);
  if (values.length > 0) await signInWithKey(get, findings, target, server, registered, values);
  return findings.steps;
}
