import type { SignInConfig } from '../config.ts';

/**
 * Who may do what, from the ID token's email: ALLOWED_EMAILS may sign in, ADMIN_EMAILS may too and
 * see everything. An address counts only when the provider says it is verified (`email_verified`,
 * OpenID Connect Core §5.1): an unverified address is whatever someone typed at sign-up.
 */

/** `alice@example.com` matches itself; `*@example.com` matches every address at that domain (not its subdomains). */
export function matchesEmail(patterns: string[], email: string): boolean {
  const address = email.toLowerCase();
  const domain = address.slice(address.lastIndexOf('@') + 1);
  return patterns.some((pattern) => pattern === address || pattern === `*@${domain}`);
}

export function isAdminEmail(signIn: SignInConfig, email: string): boolean {
  return matchesEmail(signIn.adminEmails, email);
}

export function mayEnter(signIn: SignInConfig, email: string): boolean {
  return matchesEmail(signIn.allowedEmails, email) || isAdminEmail(signIn, email);
}
