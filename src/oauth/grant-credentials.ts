/**
 * The one place that reads and writes the credential values a grant carries: one value per field
 * of the endpoint's credential template (upstream/credentials.ts), in template order. Grants made
 * before templates hold a single `apiKey`; they read as a one-value credential, so they keep
 * working after an upgrade. Every reader of a grant's key goes through here.
 *
 * The props' credential part is declared here, not imported from engine.ts, so that the engine
 * may use this file without closing an import loop (test/architecture/layers.test.ts).
 */
export interface CredentialProps {
  /** Every value, in template order. */
  credentials?: string[] | undefined;
  /** The one key of grants made before templates existed. */
  apiKey?: string | undefined;
}

/**
 * The one-value arrays of older grants, per props object: a remembered token check hands the same
 * props to every message of its grant, so they get the same array each time, as newer grants do,
 * and what is built from it once (upstream/credentials.ts `placeCredentials`) is not built again.
 */
const olderValues = new WeakMap<CredentialProps, string[]>();
const NO_VALUES: string[] = [];

/** The grant's credential values, in template order. The same array for the same props: read it, never change it. */
export function grantCredentials(props: CredentialProps): string[] {
  if (props.credentials && props.credentials.length > 0) return props.credentials;
  if (props.apiKey === undefined) return NO_VALUES;
  let values = olderValues.get(props);
  if (!values || values[0] !== props.apiKey) {
    values = [props.apiKey];
    olderValues.set(props, values);
  }
  return values;
}

/** The same props carrying `values` instead, in the current shape (the older `apiKey` goes); everything else unchanged. */
export function withCredentials<P extends CredentialProps>(props: P, values: string[]): P {
  const { apiKey: _older, ...rest } = props;
  return { ...rest, credentials: values } as P;
}
