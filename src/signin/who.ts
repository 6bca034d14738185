import { ACTORS } from '../audit/trail.ts';
import { timingSafeEqual } from '../crypto.ts';
import type { Platform } from '../platform.ts';
import { type Person, signedInPerson } from './session.ts';

/**
 * Who is creating an endpoint, or undefined when nobody may: the one rule for the form and the API.
 * - ADMIN_TOKEN, when set and presented, always works (scripts);
 * - with sign-in configured, a signed-in allowed person, who becomes the endpoint's owner;
 * - without sign-in, anyone unless ADMIN_TOKEN is set (exactly the behaviour before sign-in existed).
 */
export interface Creator {
  actor: string;
  owner?: string;
}

export async function whoCreates(
  platform: Platform,
  request: Request,
  presentedAdminToken: string | undefined,
): Promise<Creator | undefined> {
  const { adminToken, signIn } = platform.config;
  if (adminToken && presentedAdminToken !== undefined && timingSafeEqual(presentedAdminToken, adminToken))
    return { actor: ACTORS.adminToken };
  if (signIn) {
    const person = await signedInPerson(platform, request);
    return person ? { actor: person.email, owner: person.email } : undefined;
  }
  return adminToken ? undefined : { actor: ACTORS.anyone };
}

/** Whether a signed-in person may manage this endpoint without its manage link: its owner, or an admin. */
export function mayManageAsPerson(person: Person | undefined, owner: string | undefined): boolean {
  if (!person) return false;
  return person.admin || (owner !== undefined && owner.toLowerCase() === person.email.toLowerCase());
}

/**
 * Who is approving on the consent page: with SIGN_IN_TO_AUTHORIZE, a signed-in allowed person
 * (undefined when there is none, and the page sends them to sign in); otherwise whoever holds
 * the key, as before.
 */
export async function whoAuthorizes(platform: Platform, request: Request): Promise<string | undefined> {
  if (!platform.config.signIn?.toAuthorize) return ACTORS.keyHolder;
  return (await signedInPerson(platform, request))?.email;
}

/** The email of whoever `whoAuthorizes` found, when it is a signed-in person (for the grant's record). */
export function signInActor(platform: Platform, actor: string): string | undefined {
  return platform.config.signIn?.toAuthorize ? actor : undefined;
}
