import type { GrantProps } from './engine.ts';

/**
 * The values a grant hands its stdio server process, in the order the server's `credentials`
 * declare their variables (docs/stdio.md). A grant holds one key today; this is the one place
 * that reads it for a process.
 */
export function stdioCredentials(props: GrantProps): string[] {
  return [props.apiKey];
}
