import { base64url } from '../crypto.ts';
import type { Platform } from '../platform.ts';
import type { KVStore } from '../storage/contract.ts';
import { type CredentialProps, grantCredentials, withCredentials } from './grant-credentials.ts';

/**
 * A key holder's replacement of the credentials a grant sends upstream, without the client signing
 * in again. The grant's props are encrypted by the engine under a key only its tokens unwrap, so
 * the new values cannot be written into them when they are replaced; they wait beside the grant,
 * sealed so that storage alone (with or without the deployment secret) reveals neither the old
 * values nor the new:
 *
 * - each replacement is one step `old values → new values`, the new values encrypted (AES-256-GCM)
 *   under a key derived (HKDF-SHA-256, random salt, the grant named in `info`) from the OLD values,
 *   which exist in clear only in the key holder's hands and inside the grant's encrypted props;
 * - at the grant's next use the props are decrypted anyway (the token check), so the steps are
 *   opened with the values they hold, in order (a step that does not open was made for other values
 *   and is skipped), and the newest values are used (`replacedProps`);
 * - at the next refresh the engine's token exchange callback writes them into the grant's props for
 *   good (engine.ts), and the tokens it issues carry them.
 *
 * Cost: an access whose key was never replaced pays nothing per message. The token check cache
 * already reads each token's record on every hit; replacing a key writes a version number into the
 * records of the grant's live tokens (`MARKER`), so a cached check learns of a replacement from the
 * read it makes anyway, and reads the steps only then. A check that misses the cache (about 0.6 ms
 * of crypto, once per token and process) reads the steps once. A marked token (until the grant's
 * next refresh issues unmarked ones) also has its grant confirmed on each use (engine.ts): a mark
 * written while the grant was being revoked must not bring its token back.
 */

const PREFIX = 'k2o:rekey:';
/** The field replacement writes into the engine's token records: the version of the steps. */
export const MARKER = 'k2oRekey';
const MARKER_PATTERN = new RegExp(`"${MARKER}":(\\d+)`);

export interface Sealed {
  /** HKDF salt, AES-GCM IV, ciphertext of the JSON list of values: base64url. */
  s: string;
  i: string;
  c: string;
}

interface Record {
  v: number;
  steps: Sealed[];
}

/** Binds a step to its grant: a step copied to another grant's record opens nowhere. */
function grantContext(slug: string, grantId: string): string {
  return `replaced credentials\u0000${slug}\u0000${grantId}`;
}

function recordKey(slug: string, grantId: string): string {
  return `${PREFIX}${slug}:${grantId}`;
}

/** The replacement version a token record carries, 0 when none: read from its text, no parse. */
export function replacementMarker(tokenRecord: string): number {
  const found = MARKER_PATTERN.exec(tokenRecord);
  return found ? Number(found[1]) : 0;
}

/** The grant's props with every replacement that applies to them, and the version of the steps seen. */
export async function replacedProps<P extends CredentialProps>(
  kv: KVStore,
  slug: string,
  grantId: string,
  props: P,
): Promise<{ props: P; version: number }> {
  const record = (await kv.get(recordKey(slug, grantId), 'json')) as Record | null;
  if (!record) return { props, version: 0 };
  const before = grantCredentials(props);
  let values = before;
  for (const step of record.steps) values = (await open(step, values, grantContext(slug, grantId))) ?? values;
  return { props: values === before ? props : withCredentials(props, values), version: record.v };
}

/** Adds a step `old → new` for the grant; returns the new version. Kept as long as a refresh token could still use the grant. */
export async function addReplacement(
  platform: Platform,
  slug: string,
  grantId: string,
  oldValues: string[],
  newValues: string[],
): Promise<number> {
  const key = recordKey(slug, grantId);
  const record = ((await platform.kv.get(key, 'json')) as Record | null) ?? { v: 0, steps: [] };
  record.steps.push(await seal(newValues, oldValues, grantContext(slug, grantId)));
  record.v += 1;
  await platform.kv.put(key, JSON.stringify(record), { expirationTtl: platform.config.refreshTokenTtl + 86_400 });
  return record.v;
}

export async function forgetReplacements(kv: KVStore, slug: string, grantId: string): Promise<void> {
  await kv.delete(recordKey(slug, grantId));
}

async function stepKey(values: string[], salt: Uint8Array<ArrayBuffer>, context: string, usage: 'encrypt' | 'decrypt'): Promise<CryptoKey> {
  const material = await crypto.subtle.importKey('raw', new TextEncoder().encode(JSON.stringify(values)), 'HKDF', false, ['deriveKey']);
  return crypto.subtle.deriveKey(
    { name: 'HKDF', hash: 'SHA-256', salt, info: new TextEncoder().encode(`key2oauth sealed values\u0000${context}`) },
    material,
    { name: 'AES-GCM', length: 256 },
    false,
    [usage],
  );
}

/**
 * `values` encrypted under a key derived from `under` (HKDF-SHA-256 with a random salt and
 * `context` as info, then AES-256-GCM): only someone holding `under` opens it.
 */
export async function seal(values: string[], under: string[], context: string): Promise<Sealed> {
  const salt = crypto.getRandomValues(new Uint8Array(16));
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const key = await stepKey(under, salt, context, 'encrypt');
  const sealed = await crypto.subtle.encrypt({ name: 'AES-GCM', iv }, key, new TextEncoder().encode(JSON.stringify(values)));
  return { s: base64url(salt), i: base64url(iv), c: base64url(new Uint8Array(sealed)) };
}

/** What `seal` sealed, when `values` are the ones it was sealed under (and `context` the same), else undefined. */
export async function open(step: Sealed, values: string[], context: string): Promise<string[] | undefined> {
  try {
    const key = await stepKey(values, fromBase64url(step.s), context, 'decrypt');
    const plain = await crypto.subtle.decrypt({ name: 'AES-GCM', iv: fromBase64url(step.i) }, key, fromBase64url(step.c));
    const opened: unknown = JSON.parse(new TextDecoder().decode(plain));
    return Array.isArray(opened) && opened.every((value) => typeof value === 'string') ? opened : undefined;
  } catch {
    return undefined;
  }
}

function fromBase64url(text: string): Uint8Array<ArrayBuffer> {
  const binary = atob(text.replace(/-/g, '+').replace(/_/g, '/'));
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}
