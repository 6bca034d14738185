import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkUpstreamUrl, matchesAllowlist, rememberedUrlCheck } from '../../src/upstream/url-policy.ts';

const STRICT = { allowPrivate: false, allowlist: [] };
const DEV = { allowPrivate: true, allowlist: [] };

/** Loopback, private and metadata targets written every way the URL parser still reads as an IP. */
const IP_NOTATIONS = [
  'https://127.0.0.1/',
  'https://127.0.0.1:8080/mcp',
  'https://127.0.0.1./', // trailing dot
  'https://127.1/', // short forms
  'https://127.0.1/',
  'https://2130706433/', // one decimal number
  'https://017700000001/', // one octal number
  'https://0x7f000001/', // one hex number
  'https://0x7f.1/',
  'https://0x7f.0.0.0x1/',
  'https://0177.0.0.1/', // octal parts
  'https://0177.1/',
  'https://127.000.000.001/',
  'https://127%2e0%2e0%2e1/', // percent-encoded dots
  'https://127。0。0。1/', // ideographic full stops, mapped by IDNA
  'https://①②⑦.0.0.1/', // circled digits, mapped by IDNA
  'https:\\\\127.0.0.1/', // backslashes act as slashes in special schemes
  'https://127.0.0.1\\@example.com/', // ...so this host is 127.0.0.1, not example.com
  'https://0/',
  'https://0x/',
  'https://0.0.0.0/',
  'https://0.1.2.3/',
  'https://169.254.169.254/latest/meta-data/',
  'https://0xa9fea9fe/', // 169.254.169.254
  'https://2852039166/', // 169.254.169.254
  'https://169.254.170.2/v2/credentials', // ECS task credentials
  'https://100.100.100.200/', // Alibaba Cloud metadata
  'https://10.0.0.1/',
  'https://012.0.0.1/', // octal 10.0.0.1
  'https://172.16.0.1/',
  'https://172.31.255.255/',
  'https://192.168.1.1/',
  'https://0xc0.0xa8.1.1/',
  'https://100.64.0.1/', // CGNAT
  'https://100.127.255.254/',
  'https://224.0.0.1/',
  'https://239.255.255.250/',
  'https://255.255.255.255/',
  'https://240.0.0.1/',
  'https://192.0.0.1/',
  'https://192.0.2.1/',
  'https://198.51.100.1/',
  'https://203.0.113.1/',
  'https://198.18.0.1/',
  'https://192.88.99.1/',
  'https://[::]/',
  'https://[::1]/',
  'https://[0:0:0:0:0:0:0:1]/',
  'https://[::ffff:127.0.0.1]/',
  'https://[::ffff:7f00:1]/',
  'https://[::ffff:169.254.169.254]/',
  'https://[::ffff:10.0.0.1]/',
  'https://[::127.0.0.1]/', // IPv4-compatible
  'https://[::ffff:0:7f00:1]/', // IPv4-translated
  'https://[64:ff9b::127.0.0.1]/', // NAT64
  'https://[64:ff9b::a9fe:a9fe]/',
  'https://[64:ff9b:1::808:808]/', // local-use NAT64
  'https://[2002:7f00:1::]/', // 6to4 of 127.0.0.1
  'https://[2002:a9fe:a9fe::1]/',
  'https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/', // Teredo
  'https://[fc00::1]/',
  'https://[fd00:ec2::254]/', // AWS IMDS over IPv6
  'https://[fe80::1]/',
  'https://[ff02::1]/',
  'https://[fec0::1]/',
  'https://[100::1]/',
  'https://[2001:db8::1]/',
  'https://[3fff::1]/',
  'https://[2001:2::1]/',
];

const NAMES = [
  'https://localhost/',
  'https://localhost./',
  'https://localhost../',
  'https://LOCALHOST/',
  'https://LocalHost:8443/mcp',
  'https://foo.localhost/',
  'https://foo.localhost./',
  'https://%6c%6f%63%61%6c%68%6f%73%74/', // percent-encoded
  'https://ｌｏｃａｌｈｏｓｔ/', // fullwidth letters, mapped by IDNA
  'https://metadata/',
  'https://metadata.google.internal/computeMetadata/v1/',
  'https://metadata.google.internal./',
  'https://instance-data/',
  'https://instance-data.ec2.internal/',
  'https://printer.local/',
  'https://db.internal/',
  'https://router.lan/',
  'https://nas.home.arpa/',
  'https://1.0.0.127.in-addr.arpa/',
  'https://intranet/',
  'https://kubernetes.default.svc/',
  'https://api.default.svc.cluster.local/',
  'https://hidden.onion/',
  'https://a..b.com/',
];

const SHAPE = [
  'http://example.com/', // http only with allowPrivate
  'ftp://example.com/',
  'file:///etc/passwd',
  'gopher://example.com:70/_GET',
  'javascript:alert(1)',
  'data:text/plain,hi',
  'ws://example.com/',
  'wss://example.com/',
  'blob:https://example.com/uuid',
  'dict://example.com:11211/',
  'https://user@example.com/',
  'https://user:pass@example.com/',
  'https://:pass@example.com/',
  'https://example.com@127.0.0.1/',
  'https://example.com/mcp#fragment',
  'https://exa mple.com/',
  'https://example.com/a b',
  'https://exam\nple.com/', // the parser would drop the newline silently
  'https://example.com/\tmcp',
  'https://\texample.com/',
  '',
  '   ',
  'not a url',
  '//example.com/mcp',
  '/mcp',
  'https://4294967296/',
  'https://1.2.3.4.5/',
  'https://[fe80::1%25eth0]/',
  `https://example.com/${'a'.repeat(2048)}`,
];

const ALLOWED = [
  'https://mcp.example.com/mcp',
  'https://example.com:8443/mcp?x=1',
  'https://api.github.com/mcp',
  'https://example.com./mcp',
  'https://bücher.de/mcp',
  'https://mcp.localhost.example.com/', // `localhost` as an inner label is an ordinary name
  'https://local.example.com/',
  'https://internal.example.com/',
  'https://93.184.216.34/mcp',
  'https://8.8.8.8/',
  'https://8.8.8.8./',
  'https://1.1.1.1:444/',
  'https://172.32.0.1/',
  'https://100.128.0.1/',
  'https://198.20.0.1/',
  'https://[2606:4700:4700::1111]/mcp',
  'https://[2001:4860:4860::8888]:8443/',
  'https://[::ffff:8.8.8.8]/', // mapped public address
  'https://[64:ff9b::808:808]/', // NAT64 of a public address
  'https://[2002:808:808::1]/', // 6to4 of a public address
];

test(`SSRF corpus: ${IP_NOTATIONS.length + NAMES.length + SHAPE.length} payload URLs are refused`, () => {
  const accepted = [...IP_NOTATIONS, ...NAMES, ...SHAPE].filter((raw) => checkUpstreamUrl(raw, STRICT).ok);
  assert.deepEqual(accepted, []);
});

test('IP notations are refused by the address policy, not by accident of parsing', () => {
  for (const raw of IP_NOTATIONS) {
    const result = checkUpstreamUrl(raw, STRICT);
    assert.ok(!result.ok && /^The upstream address is .+; only public internet addresses are allowed\.$/.test(result.reason), raw);
  }
});

test('public URLs are allowed, so the corpus cannot pass by refusing everything', () => {
  const refused = ALLOWED.flatMap((raw) => {
    const result = checkUpstreamUrl(raw, STRICT);
    return result.ok ? [] : [`${raw}: ${result.reason}`];
  });
  assert.deepEqual(refused, []);
});

test('the returned URL is the parsed, normalised one to fetch', () => {
  const result = checkUpstreamUrl('  https://Bücher.DE:443/mcp  ', STRICT);
  assert.ok(result.ok);
  assert.equal(result.url.href, 'https://xn--bcher-kva.de/mcp');
});

test('reasons are plain English and never echo credentials', () => {
  const result = checkUpstreamUrl('https://alice:s3cr3t-key@example.com/', STRICT);
  assert.ok(!result.ok);
  assert.doesNotMatch(result.reason, /alice|s3cr3t/);
  assert.match(result.reason, /user name or password/);

  const http = checkUpstreamUrl('http://example.com/', STRICT);
  assert.deepEqual(http, { ok: false, reason: 'The URL must start with https://.' });
  const long = checkUpstreamUrl(`https://example.com/${'a'.repeat(2048)}`, STRICT);
  assert.ok(!long.ok && long.reason.includes('too long'));
  const local = checkUpstreamUrl('https://printer.local/', STRICT);
  assert.ok(!local.ok && local.reason === 'Host names ending in .local are private and cannot be used as upstreams.');
});

test('allowPrivate admits http, localhost and private hosts for development', () => {
  for (const raw of [
    'http://localhost:3000/mcp',
    'http://127.0.0.1:8080/',
    'https://[::1]:8443/',
    'http://10.0.0.5/',
    'http://mcp-server:8000/mcp',
    'http://printer.local/',
  ]) {
    const result = checkUpstreamUrl(raw, DEV);
    assert.ok(result.ok, `should allow ${raw} in development: ${result.ok ? '' : result.reason}`);
  }
});

test('allowPrivate still refuses metadata services, credentials and other schemes', () => {
  for (const raw of [
    'http://169.254.169.254/latest/meta-data/',
    'http://[::ffff:a9fe:a9fe]/',
    'http://[fd00:ec2::254]/',
    'http://100.100.100.200/',
    'http://metadata.google.internal/',
    'http://metadata/',
    'http://instance-data/',
    'http://[fe80::1]/',
    'ftp://localhost/',
    'file:///etc/passwd',
    'http://user:pw@localhost/',
  ]) {
    assert.equal(checkUpstreamUrl(raw, DEV).ok, false, raw);
  }
});

test('a non-empty allowlist restricts hosts, also with allowPrivate', () => {
  const allowlist = ['example.com', '*.mcp.example.org'];
  const strict = { allowPrivate: false, allowlist };
  for (const raw of ['https://example.com/mcp', 'https://EXAMPLE.com./', 'https://a.mcp.example.org/', 'https://a.b.mcp.example.org/']) {
    assert.ok(checkUpstreamUrl(raw, strict).ok, raw);
  }
  for (const raw of [
    'https://www.example.com/',
    'https://mcp.example.org/',
    'https://evilmcp.example.org/',
    'https://example.com.evil.net/',
    'https://notexample.com/',
  ]) {
    const result = checkUpstreamUrl(raw, strict);
    assert.ok(!result.ok && result.reason.includes('approved upstream hosts'), raw);
  }
  const dev = { allowPrivate: true, allowlist: ['localhost'] };
  assert.ok(checkUpstreamUrl('http://localhost:3000/', dev).ok);
  assert.equal(checkUpstreamUrl('http://127.0.0.1:3000/', dev).ok, false);
  // The address policy still applies inside the allowlist.
  assert.equal(checkUpstreamUrl('https://127.0.0.1/', { allowPrivate: false, allowlist: ['127.0.0.1'] }).ok, false);
});

test('allowlist patterns are normalised like URL hosts', () => {
  assert.equal(matchesAllowlist('xn--bcher-kva.de', ['Bücher.de']), true);
  assert.equal(matchesAllowlist('a.xn--bcher-kva.de', ['*.BÜCHER.de.']), true);
  assert.equal(matchesAllowlist('[2606:4700::1111]', ['[2606:4700:0::1111]']), true);
  assert.equal(matchesAllowlist('example.com', ['*.example.com']), false);
});

test('remembered checks give the same verdict as a fresh check, every time, for allowed and refused URLs alike', () => {
  const policy = { allowPrivate: false, allowlist: ['*.allowed.example'] };
  const check = rememberedUrlCheck(policy);
  for (const url of [
    'https://api.allowed.example/mcp',
    'https://other.example/mcp',
    'http://127.0.0.1/mcp',
    'https://api.allowed.example/mcp?x=1',
  ]) {
    const fresh = checkUpstreamUrl(url, policy);
    for (let attempt = 0; attempt < 3; attempt++) {
      const remembered = check(url);
      assert.equal(remembered.ok, fresh.ok, url);
      if (remembered.ok && fresh.ok) assert.equal(remembered.url.href, fresh.url.href);
      if (!remembered.ok && !fresh.ok) assert.equal(remembered.reason, fresh.reason);
    }
  }
});
