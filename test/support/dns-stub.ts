/**
 * A preload (`node --import ./test/support/dns-stub.ts`) for the real server process that plays a
 * hostile DNS server: `dns.lookup` answers names listed in the JSON file `DNS_STUB_FILE`
 * (`{"rebind.example.com": "93.184.215.14"}`) with that address, read afresh on every lookup, so
 * the test can change the answer between two requests (DNS rebinding). Other names resolve as
 * usual. Each stubbed answer is printed to stderr as `dns-stub: <name> -> <address>`, so a test
 * can see that the server asked, and when.
 */
import dns from 'node:dns';
import { readFileSync } from 'node:fs';
import net from 'node:net';

const file = process.env.DNS_STUB_FILE;
if (!file) throw new Error('dns-stub: DNS_STUB_FILE is not set');

type Callback = (error: NodeJS.ErrnoException | null, address: string | dns.LookupAddress[], family?: number) => void;

const original = dns.lookup;

function stubbed(hostname: string, options: unknown, callback?: unknown): void {
  const cb = (typeof options === 'function' ? options : callback) as Callback;
  const opts = (
    typeof options === 'number' ? { family: options } : typeof options === 'object' && options ? options : {}
  ) as dns.LookupOptions;
  const answers = JSON.parse(readFileSync(file!, 'utf8')) as Record<string, string>;
  const address = answers[hostname.toLowerCase()];
  if (address === undefined) {
    (original as (...args: unknown[]) => void).call(dns, hostname, opts, cb);
    return;
  }
  process.stderr.write(`dns-stub: ${hostname} -> ${address}\n`);
  const family = net.isIP(address);
  process.nextTick(() => (opts.all ? cb(null, [{ address, family }]) : cb(null, address, family)));
}

dns.lookup = stubbed as typeof dns.lookup;
