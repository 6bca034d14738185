/**
 * The one place that reads and writes the credential values a grant carries (the key, or one value
 * per field of the endpoint's credential template), so everything that handles values, the key
 * holder's lookup and key replacement included, works on lists and never on the props' shape.
 *
 * `GrantProps` (engine.ts) as far as credentials go is declared here, not imported: the engine
 * applies key replacements (key-replacement.ts) through this file, and an import of engine.ts
 * here would close a loop (test/architecture/layers.test.ts counts type-only imports too).
 */
interface CredentialProps {
  apiKey: string;
}

/** The grant's credential values, in template order. */
export function grantCredentials(props: CredentialProps): string[] {
  return [props.apiKey];
}

/** The same props carrying `values` instead (a replaced key); everything else unchanged. */
export function withCredentials<P extends CredentialProps>(props: P, values: string[]): P {
  return { ...props, apiKey: values[0] ?? '' };
}
