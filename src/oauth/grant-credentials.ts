import type { GrantProps } from './engine.ts';

/**
 * The values a grant sends upstream, in template order. Grants made before templates hold one
 * `apiKey`; they read as a one-value credential, so they keep working after an upgrade. Every
 * reader of a grant's key goes through here.
 */
export function grantCredentials(props: Pick<GrantProps, 'credentials' | 'apiKey'>): string[] {
  if (props.credentials && props.credentials.length > 0) return props.credentials;
  return props.apiKey !== undefined ? [props.apiKey] : [];
}
