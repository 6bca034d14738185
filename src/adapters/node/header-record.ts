/**
 * Node's and undici's parsed headers (`{name: value | value[]}`, names lower-cased) read as the
 * exchange and the Fetch standard read headers: one pair per line, or one joined value.
 */
export type HeaderRecord = Record<string, string | string[] | undefined>;

export function* headerPairs(headers: HeaderRecord): Iterable<[string, string]> {
  for (const name in headers) {
    const value = headers[name];
    if (Array.isArray(value)) for (const item of value) yield [name, item];
    else if (value !== undefined) yield [name, value];
  }
}

export function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}
