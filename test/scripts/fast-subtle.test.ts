import assert from 'node:assert/strict';
import { test } from 'node:test';
import { installFastSubtle } from '../../scripts/bench/fast-subtle.ts';

/**
 * The growth bench fills its stores with the engine's own code on node:crypto primitives
 * (scripts/bench/fast-subtle.ts). What it writes must be what the server reads with the real
 * WebCrypto: each operation the engine uses to make a grant is checked here against WebCrypto
 * itself, both ways.
 */
const real = globalThis.crypto.subtle;
const text = new TextEncoder();

async function withFast<T>(run: (fast: SubtleCrypto) => Promise<T>): Promise<T> {
  const restore = installFastSubtle();
  try {
    return await run(globalThis.crypto.subtle);
  } finally {
    restore();
  }
}

test('SHA-256 and HMAC-SHA-256 give WebCrypto’s bytes', async () => {
  const data = text.encode('slug:grant:secret');
  const secret = crypto.getRandomValues(new Uint8Array(32));
  const realKey = await real.importKey('raw', secret, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  const expected = {
    digest: Buffer.from(await real.digest('SHA-256', data)),
    mac: Buffer.from(await real.sign('HMAC', realKey, data)),
  };
  const got = await withFast(async (fast) => {
    const key = await fast.importKey('raw', secret, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
    return { digest: Buffer.from(await fast.digest('SHA-256', data)), mac: Buffer.from(await fast.sign('HMAC', key, data)) };
  });
  assert.deepEqual(got, expected);
});

test('props encrypted with a fast AES-GCM key, wrapped with AES-KW, open with WebCrypto; and WebCrypto’s open here', async () => {
  const kek = crypto.getRandomValues(new Uint8Array(32));
  const iv = new Uint8Array(12);
  const props = text.encode(JSON.stringify({ v: 1, credentials: ['sk-key'] }));
  const made = await withFast(async (fast) => {
    const key = await fast.generateKey({ name: 'AES-GCM', length: 256 }, true, ['encrypt', 'decrypt']);
    const wrapping = await fast.importKey('raw', kek, { name: 'AES-KW' }, false, ['wrapKey', 'unwrapKey']);
    return {
      ciphertext: await fast.encrypt({ name: 'AES-GCM', iv }, key as CryptoKey, props),
      wrapped: await fast.wrapKey('raw', key as CryptoKey, wrapping, { name: 'AES-KW' }),
    };
  });
  const realKek = await real.importKey('raw', kek, { name: 'AES-KW' }, false, ['wrapKey', 'unwrapKey']);
  const opened = await real.unwrapKey('raw', made.wrapped, realKek, { name: 'AES-KW' }, { name: 'AES-GCM' }, true, ['decrypt', 'encrypt']);
  assert.deepEqual(Buffer.from(await real.decrypt({ name: 'AES-GCM', iv }, opened, made.ciphertext)), Buffer.from(props));

  // The other way: what WebCrypto wrapped and encrypted, the fast operations open (a token exchange unwraps the code's key).
  const realProps = await real.encrypt({ name: 'AES-GCM', iv }, opened, props);
  const realWrapped = await real.wrapKey('raw', opened, realKek, { name: 'AES-KW' });
  const back = await withFast(async (fast) => {
    const wrapping = await fast.importKey('raw', kek, { name: 'AES-KW' }, false, ['wrapKey', 'unwrapKey']);
    const key = await fast.unwrapKey('raw', realWrapped, wrapping, { name: 'AES-KW' }, { name: 'AES-GCM' }, true, ['decrypt']);
    return Buffer.from(await fast.decrypt({ name: 'AES-GCM', iv }, key, realProps));
  });
  assert.deepEqual(back, Buffer.from(props));
});

test('a tampered ciphertext is refused, and a fast key never reaches WebCrypto silently', async () => {
  await withFast(async (fast) => {
    const iv = new Uint8Array(12);
    const key = await fast.generateKey({ name: 'AES-GCM', length: 256 }, true, ['encrypt', 'decrypt']);
    const sealed = new Uint8Array(await fast.encrypt({ name: 'AES-GCM', iv }, key as CryptoKey, text.encode('props')));
    sealed[0]! ^= 1;
    await assert.rejects(fast.decrypt({ name: 'AES-GCM', iv }, key as CryptoKey, sealed));
    await assert.rejects(fast.verify('HMAC', key as CryptoKey, new Uint8Array(32), sealed), /fast key/);
  });
  assert.equal(globalThis.crypto.subtle, real, 'the real WebCrypto is back');
});
