import assert from 'node:assert/strict';
import { test } from 'node:test';
import { clientIdentity } from '../../src/http/rate-limit.ts';

test('an IPv6 client is counted by its /64, an IPv4-mapped one by its IPv4 address', () => {
  assert.equal(clientIdentity('2001:db8:1:2:aaaa:bbbb:cccc:dddd'), clientIdentity('2001:db8:1:2::1'));
  assert.equal(clientIdentity('2001:0db8:0001:0002::ffff'), '2001:db8:1:2::/64');
  assert.notEqual(clientIdentity('2001:db8:1:2::1'), clientIdentity('2001:db8:1:3::1'));
  assert.equal(clientIdentity('::ffff:198.51.100.7'), '198.51.100.7');
  assert.equal(clientIdentity('198.51.100.7'), '198.51.100.7');
  assert.equal(clientIdentity('AbCdEfGh1234'), 'AbCdEfGh1234', 'a slug is its own identity');
  assert.equal(clientIdentity('unknown'), 'unknown');
});
