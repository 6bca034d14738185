/**
 * Where a test upstream expects its credential, for servers that take it other than as
 * `Authorization: Bearer <key>`: a query parameter, several headers, HTTP Basic. Each builds a
 * check of a request's URL and headers (lower-case names), used by the in-process upstreams and
 * the real SDK servers alike.
 */
export type KeyCheck = (url: URL, header: (name: string) => string | undefined) => boolean;

/** `?name=value` on the request URL, exactly once. */
export function inQuery(name: string, value: string): KeyCheck {
  return (url) => {
    const all = url.searchParams.getAll(name);
    return all.length === 1 && all[0] === value;
  };
}

/** Every one of these header lines, as given. */
export function inHeaders(lines: Record<string, string>): KeyCheck {
  return (_url, header) => Object.entries(lines).every(([name, value]) => header(name.toLowerCase()) === value);
}

/** `Authorization: Basic base64(user:password)` (RFC 7617). */
export function inBasic(user: string, password: string): KeyCheck {
  return inHeaders({ authorization: `Basic ${Buffer.from(`${user}:${password}`, 'utf8').toString('base64')}` });
}
