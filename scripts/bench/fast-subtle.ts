/**
 * The bulk fill's crypto (scale-fill.ts): the few WebCrypto operations the OAuth engine uses to make
 * a grant and its tokens — SHA-256, HMAC-SHA-256, AES-256-GCM, AES-KW (RFC 3394) — done with
 * node:crypto's synchronous primitives instead of Node's WebCrypto, whose every call is a job on
 * the thread pool and whose argument checks cost more than the cipher: about 25 calls per grant
 * made a grant cost 5 ms of CPU, and 100,000 of them most of ten minutes.
 *
 * Same algorithms, same bytes: what the engine writes with these is read by the server with the
 * real WebCrypto, and the growth bench measures sampled tokens of the fill through the server
 * (any difference would be a refused token and a failed run). Keys made here are plain objects
 * the engine only passes back to these functions; any other algorithm, or a key of the other
 * kind, goes to (or fails loudly against) the real implementation. Never used by the server.
 */
import { type CipherGCM, createCipheriv, createDecipheriv, createHash, createHmac, type DecipherGCM, randomBytes } from 'node:crypto';

const RAW = Symbol('raw key bytes');

interface FastKey {
  type: 'secret';
  algorithm: { name: string; length?: number; hash?: { name: string } };
  extractable: boolean;
  usages: string[];
  [RAW]: Buffer;
}

type Algorithm = string | { name: string; hash?: string | { name: string }; length?: number; iv?: BufferSource };

const nameOf = (algorithm: Algorithm): string => (typeof algorithm === 'string' ? algorithm : algorithm.name).toUpperCase();
const hashOf = (algorithm: Algorithm): string | undefined => {
  if (typeof algorithm === 'string' || !algorithm.hash) return undefined;
  return (typeof algorithm.hash === 'string' ? algorithm.hash : algorithm.hash.name).toUpperCase();
};
const isFast = (key: unknown): key is FastKey => typeof key === 'object' && key !== null && RAW in key;
const bytes = (data: BufferSource): Buffer =>
  ArrayBuffer.isView(data) ? Buffer.from(data.buffer, data.byteOffset, data.byteLength) : Buffer.from(data as ArrayBuffer);
const arrayBuffer = (buffer: Buffer): ArrayBuffer =>
  buffer.buffer.slice(buffer.byteOffset, buffer.byteOffset + buffer.byteLength) as ArrayBuffer;

const AES_KW_IV = Buffer.from('A6A6A6A6A6A6A6A6', 'hex');

function key(algorithm: FastKey['algorithm'], raw: Buffer, extractable: boolean, usages: string[]): FastKey {
  return { type: 'secret', algorithm, extractable, usages, [RAW]: raw };
}

function aesName(length: number, mode: 'gcm' | 'wrap'): string {
  if (![16, 24, 32].includes(length)) throw new Error(`fast-subtle: an AES key of ${length} bytes`);
  return mode === 'gcm' ? `aes-${length * 8}-gcm` : `id-aes${length * 8}-wrap`;
}

function gcm(direction: 'encrypt' | 'decrypt', algorithm: Algorithm, k: FastKey, data: BufferSource): ArrayBuffer {
  if (typeof algorithm === 'string' || !algorithm.iv) throw new Error('fast-subtle: AES-GCM needs an iv');
  const iv = bytes(algorithm.iv);
  const input = bytes(data);
  if (direction === 'encrypt') {
    const cipher = createCipheriv(aesName(k[RAW].length, 'gcm'), k[RAW], iv) as CipherGCM;
    return arrayBuffer(Buffer.concat([cipher.update(input), cipher.final(), cipher.getAuthTag()]));
  }
  const decipher = createDecipheriv(aesName(k[RAW].length, 'gcm'), k[RAW], iv) as DecipherGCM;
  decipher.setAuthTag(input.subarray(input.length - 16));
  return arrayBuffer(Buffer.concat([decipher.update(input.subarray(0, input.length - 16)), decipher.final()]));
}

/** Installs the fast operations on `globalThis.crypto.subtle`, for this process only; returns the undo. */
export function installFastSubtle(): () => void {
  const real = globalThis.crypto.subtle;
  const refuseMixed = (...keys: unknown[]) => {
    if (keys.some(isFast)) throw new Error('fast-subtle: a fast key handed to an operation it does not do');
  };
  const fast = {
    async digest(algorithm: Algorithm, data: BufferSource) {
      if (nameOf(algorithm) !== 'SHA-256') return real.digest(algorithm, data);
      return arrayBuffer(createHash('sha256').update(bytes(data)).digest());
    },
    async importKey(format: string, keyData: BufferSource, algorithm: Algorithm, extractable: boolean, usages: string[]) {
      const name = nameOf(algorithm);
      if (format === 'raw' && name === 'HMAC' && hashOf(algorithm) === 'SHA-256')
        return key({ name: 'HMAC', hash: { name: 'SHA-256' } }, Buffer.from(bytes(keyData)), extractable, usages);
      if (format === 'raw' && (name === 'AES-KW' || name === 'AES-GCM'))
        return key({ name, length: bytes(keyData).length * 8 }, Buffer.from(bytes(keyData)), extractable, usages);
      return real.importKey(format as never, keyData, algorithm as never, extractable, usages as never);
    },
    async generateKey(algorithm: Algorithm, extractable: boolean, usages: string[]) {
      if (nameOf(algorithm) === 'AES-GCM' && typeof algorithm === 'object' && algorithm.length)
        return key({ name: 'AES-GCM', length: algorithm.length }, randomBytes(algorithm.length / 8), extractable, usages);
      return real.generateKey(algorithm as never, extractable, usages as never);
    },
    async sign(algorithm: Algorithm, k: CryptoKey | FastKey, data: BufferSource) {
      if (!isFast(k)) return real.sign(algorithm as never, k, data);
      if (nameOf(algorithm) !== 'HMAC' || k.algorithm.name !== 'HMAC') throw new Error('fast-subtle: sign is HMAC only');
      return arrayBuffer(createHmac('sha256', k[RAW]).update(bytes(data)).digest());
    },
    async verify(algorithm: Algorithm, k: CryptoKey | FastKey, signature: BufferSource, data: BufferSource) {
      refuseMixed(k);
      return real.verify(algorithm as never, k as CryptoKey, signature, data);
    },
    async encrypt(algorithm: Algorithm, k: CryptoKey | FastKey, data: BufferSource) {
      if (!isFast(k)) return real.encrypt(algorithm as never, k, data);
      return gcm('encrypt', algorithm, k, data);
    },
    async decrypt(algorithm: Algorithm, k: CryptoKey | FastKey, data: BufferSource) {
      if (!isFast(k)) return real.decrypt(algorithm as never, k, data);
      return gcm('decrypt', algorithm, k, data);
    },
    async wrapKey(format: string, k: CryptoKey | FastKey, wrapping: CryptoKey | FastKey, algorithm: Algorithm) {
      if (!isFast(k) && !isFast(wrapping)) return real.wrapKey(format as never, k, wrapping, algorithm as never);
      if (!isFast(k) || !isFast(wrapping) || format !== 'raw' || nameOf(algorithm) !== 'AES-KW')
        throw new Error('fast-subtle: wrapKey is raw AES-KW of a fast key only');
      const cipher = createCipheriv(aesName(wrapping[RAW].length, 'wrap'), wrapping[RAW], AES_KW_IV);
      return arrayBuffer(Buffer.concat([cipher.update(k[RAW]), cipher.final()]));
    },
    async unwrapKey(
      format: string,
      wrapped: BufferSource,
      wrapping: CryptoKey | FastKey,
      algorithm: Algorithm,
      unwrapped: Algorithm,
      extractable: boolean,
      usages: string[],
    ) {
      if (!isFast(wrapping))
        return real.unwrapKey(format as never, wrapped, wrapping, algorithm as never, unwrapped as never, extractable, usages as never);
      if (format !== 'raw' || nameOf(algorithm) !== 'AES-KW' || nameOf(unwrapped) !== 'AES-GCM')
        throw new Error('fast-subtle: unwrapKey is raw AES-KW to AES-GCM only');
      const decipher = createDecipheriv(aesName(wrapping[RAW].length, 'wrap'), wrapping[RAW], AES_KW_IV);
      const raw = Buffer.concat([decipher.update(bytes(wrapped)), decipher.final()]);
      return key({ name: 'AES-GCM', length: raw.length * 8 }, raw, extractable, usages);
    },
    async exportKey(format: string, k: CryptoKey | FastKey) {
      if (!isFast(k)) return real.exportKey(format as never, k);
      if (format !== 'raw') throw new Error('fast-subtle: exportKey is raw only');
      return arrayBuffer(Buffer.from(k[RAW]));
    },
    async deriveKey(...args: unknown[]) {
      refuseMixed(args[1]);
      return (real.deriveKey as (...a: unknown[]) => Promise<CryptoKey>)(...args);
    },
    async deriveBits(...args: unknown[]) {
      refuseMixed(args[1]);
      return (real.deriveBits as (...a: unknown[]) => Promise<ArrayBuffer>)(...args);
    },
  };
  const webCrypto = globalThis.crypto;
  const descriptor = Object.getOwnPropertyDescriptor(globalThis, 'crypto')!;
  Object.defineProperty(globalThis, 'crypto', {
    configurable: true,
    value: {
      subtle: fast,
      getRandomValues: webCrypto.getRandomValues.bind(webCrypto),
      randomUUID: webCrypto.randomUUID.bind(webCrypto),
    },
  });
  return () => Object.defineProperty(globalThis, 'crypto', descriptor);
}
