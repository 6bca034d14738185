import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkAddress, isPublicAddress } from '../../src/upstream/address-policy.ts';

// One representative (often the edges) of every special-purpose block the policy must refuse.
const REFUSED_V4 = [
  '0.0.0.0',
  '0.1.2.3',
  '0.255.255.255', // 0.0.0.0/8
  '10.0.0.1',
  '10.255.255.255', // 10/8
  '100.64.0.1',
  '100.127.255.254', // shared address space 100.64/10
  '127.0.0.1',
  '127.255.255.254', // loopback
  '169.254.0.1',
  '169.254.169.254',
  '169.254.170.2', // link-local, AWS/GCP/Azure and ECS metadata
  '172.16.0.1',
  '172.31.255.255', // 172.16/12
  '192.0.0.1',
  '192.0.0.170', // IETF protocol assignments, NAT64 discovery
  '192.0.2.1',
  '198.51.100.7',
  '203.0.113.200', // documentation
  '192.88.99.1', // 6to4 relay anycast
  '192.168.0.1',
  '192.168.255.255',
  '198.18.0.1',
  '198.19.255.255', // benchmarking
  '224.0.0.1',
  '239.255.255.250', // multicast
  '240.0.0.1',
  '254.255.255.255', // reserved 240/4
  '255.255.255.255', // broadcast
  '100.100.100.200', // Alibaba Cloud metadata (inside 100.64/10)
];

const REFUSED_V6 = [
  '::',
  '::1',
  '0:0:0:0:0:0:0:1',
  '::ffff:127.0.0.1',
  '::ffff:7f00:1',
  '::ffff:10.0.0.1',
  '::ffff:169.254.169.254',
  '::ffff:0.0.0.0', // mapped
  '::127.0.0.1',
  '::a00:1', // IPv4-compatible (deprecated)
  '::ffff:0:7f00:1', // IPv4-translated
  '64:ff9b::127.0.0.1',
  '64:ff9b::a9fe:a9fe',
  '64:ff9b::a00:1', // NAT64 to non-public IPv4
  '64:ff9b:1::808:808', // local-use NAT64, whatever it embeds
  '2002:7f00:1::',
  '2002:a9fe:a9fe::1',
  '2002:c0a8:101::1', // 6to4 of 127/8, 169.254/16, 192.168/16
  '2001:0:4136:e378:8000:63bf:3fff:fdd2',
  '2001::1', // Teredo
  '2001:2::1', // benchmarking
  '2001:10::1',
  '2001:20::1', // ORCHID
  '2001:db8::1',
  '2001:db8:ffff::1', // documentation
  '3fff::1', // documentation (RFC 9637)
  '2620:4f:8000::1', // AS112
  '100::1', // discard-only
  'fc00::1',
  'fd00::1',
  'fd00:ec2::254', // unique local, AWS IMDS
  'fe80::1',
  'febf::1', // link-local
  'fec0::1', // site-local (deprecated)
  'ff02::1',
  'ff05::1:3', // multicast
  '5f00::1', // segment routing
  '4000::1',
  'e000::1', // outside 2000::/3: not allocated as global unicast
];

const NOT_CANONICAL = [
  '',
  ' ',
  '8.8.8.8 ',
  ' 8.8.8.8',
  '127.1',
  '2130706433',
  '0x7f000001',
  '0x7f.0.0.1',
  '0177.0.0.1',
  '08.8.8.8',
  '8.8.8',
  '256.1.1.1',
  'example.com',
  '[::1]',
  '[2606:4700::1111]',
  'fe80::1%eth0',
  '2606:4700::1111%1',
  '::ffff:127.1',
  '1.2.3.4.5',
];

const PUBLIC = [
  '8.8.8.8',
  '1.1.1.1',
  '93.184.216.34',
  '9.255.255.255',
  '11.0.0.1',
  '100.63.255.255',
  '100.128.0.1',
  '126.255.255.255',
  '128.0.0.1',
  '169.253.255.255',
  '169.255.0.1',
  '172.15.255.255',
  '172.32.0.1',
  '192.0.1.1',
  '192.0.3.1',
  '192.88.98.1',
  '192.169.0.1',
  '198.17.255.255',
  '198.20.0.1',
  '223.255.255.254',
  '2606:4700:4700::1111',
  '2001:4860:4860::8888',
  '2a00:1450:4001:80b::200e',
  '2c0f:fb50:4003::1',
  '2001:200::1', // just past 2001::/23
  '::ffff:8.8.8.8',
  '::ffff:808:808', // mapped public IPv4: the packets go to 8.8.8.8
  '64:ff9b::8.8.8.8', // well-known NAT64 prefix in front of a public IPv4
  '2002:808:808::1', // 6to4 of a public IPv4
];

test('every special-purpose IPv4 block is refused', () => {
  for (const ip of REFUSED_V4) assert.equal(isPublicAddress(ip), false, ip);
});

test('every special-purpose IPv6 block and IPv4-embedding form is refused', () => {
  for (const ip of REFUSED_V6) assert.equal(isPublicAddress(ip), false, ip);
});

test('non-canonical or non-address strings are refused rather than guessed at', () => {
  for (const text of NOT_CANONICAL) {
    assert.deepEqual(checkAddress(text), { allowed: false, kind: 'not a valid IP address' }, JSON.stringify(text));
  }
});

test('globally routable unicast addresses are allowed, including the edges of special blocks', () => {
  for (const ip of PUBLIC) assert.equal(isPublicAddress(ip), true, ip);
});

test('refusals name the kind of address in plain English', () => {
  assert.deepEqual(checkAddress('127.0.0.1'), { allowed: false, kind: 'a loopback address' });
  assert.deepEqual(checkAddress('::ffff:10.1.2.3'), { allowed: false, kind: 'a private network address' });
  assert.deepEqual(checkAddress('2001::1'), { allowed: false, kind: 'a Teredo tunnel address' });
  assert.deepEqual(checkAddress('fc00::1'), { allowed: false, kind: 'a private (unique local) IPv6 address' });
  assert.deepEqual(checkAddress('::7f00:1'), { allowed: false, kind: 'an IPv4-compatible IPv6 address' });
});

test('allowPrivate admits loopback and private networks but never link-local or metadata', () => {
  const options = { allowPrivate: true };
  for (const ip of ['127.0.0.1', '10.0.0.1', '192.168.1.1', '::1', 'fd12:3456::1', '::ffff:127.0.0.1', '100.64.0.1']) {
    assert.equal(checkAddress(ip, options).allowed, true, ip);
  }
  for (const ip of [
    '169.254.169.254',
    '::ffff:169.254.169.254',
    '64:ff9b::a9fe:a9fe',
    '2002:a9fe:a9fe::',
    'fe80::1',
    'fd00:ec2::254',
    '100.100.100.200',
    '127.1',
  ]) {
    assert.equal(checkAddress(ip, options).allowed, false, ip);
  }
});
