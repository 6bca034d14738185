import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfig } from '../../src/config.ts';
import type { Platform } from '../../src/platform.ts';
import { matchesEmail } from '../../src/signin/emails.ts';
import { localPath } from '../../src/signin/routes.ts';
import { SESSION_COOKIE, sessionCookie, signedInPerson } from '../../src/signin/session.ts';

/** The small rules of sign-in: email patterns, where a sign-in may return to, and what the session cookie accepts. */

const PUBLIC_URL = 'https://bridge.example.org';
const platformWith = (secret: string, env: Record<string, string> = {}) =>
  ({
    secret,
    config: parseConfig(
      {
        PUBLIC_URL,
        OIDC_ISSUER: 'https://id.example.com',
        OIDC_CLIENT_ID: 'k2o',
        OIDC_CLIENT_SECRET: 'shh',
        ALLOWED_EMAILS: '*@corp.example',
        ADMIN_EMAILS: 'root@ops.example',
        ...env,
      },
      { publicUrl: PUBLIC_URL },
    ),
  }) as unknown as Platform;

test('email patterns: exact addresses, *@domain without subdomains, any case', () => {
  assert.ok(matchesEmail(['alice@corp.example'], 'Alice@Corp.example'));
  assert.ok(matchesEmail(['*@corp.example'], 'bob@corp.example'));
  assert.ok(!matchesEmail(['*@corp.example'], 'bob@evil.corp.example'));
  assert.ok(!matchesEmail(['*@corp.example'], 'bob@corp.example.evil'));
  assert.ok(!matchesEmail(['alice@corp.example'], 'malice@corp.example'));
});

test('after sign-in, only a path on this server: never another origin', () => {
  assert.equal(localPath('/endpoints'), '/endpoints');
  assert.equal(localPath('/authorize?client_id=a&state=%C3%A9'), '/authorize?client_id=a&state=%C3%A9');
  for (const hostile of ['//evil.example', '/\\evil.example', 'https://evil.example', 'evil', '/\tjavascript:x', '', null, undefined])
    assert.equal(localPath(hostile), '/', String(hostile));
});

test('the session cookie: signed under the deployment secret, expiring, and rechecked against the lists', async () => {
  const platform = platformWith('s'.repeat(43));
  const line = await sessionCookie(platform, 'alice@corp.example');
  const value = line.slice(`${SESSION_COOKIE}=`.length, line.indexOf(';'));
  const request = (cookie: string) => new Request(PUBLIC_URL, { headers: { cookie: `${SESSION_COOKIE}=${cookie}` } });
  assert.deepEqual(await signedInPerson(platform, request(value)), { email: 'alice@corp.example', admin: false });

  // Another deployment (another secret) does not accept it.
  assert.equal(await signedInPerson(platformWith('t'.repeat(43)), request(value)), undefined);
  // A payload changed to another email, with the old MAC, is refused.
  const [, mac] = value.split('.');
  const forged = Buffer.from(JSON.stringify({ email: 'root@ops.example', exp: 4_000_000_000 })).toString('base64url');
  assert.equal(await signedInPerson(platform, request(`${forged}.${mac}`)), undefined);
  // Removed from ALLOWED_EMAILS: the session ends at once.
  assert.equal(await signedInPerson(platformWith('s'.repeat(43), { ALLOWED_EMAILS: '*@other.example' }), request(value)), undefined);
  // Expired: refused even with a good MAC.
  const realNow = Date.now;
  Date.now = () => realNow() + 13 * 3600 * 1000;
  try {
    assert.equal(await signedInPerson(platform, request(value)), undefined);
  } finally {
    Date.now = realNow;
  }
});
