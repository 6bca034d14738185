import { SLUG_LENGTH } from '../endpoint-urls.ts';

/**
 * Endpoint slugs: 12 characters from a CSPRNG over [A-Za-z0-9] (~71 bits), the shape
 * endpoint-urls.ts recognises. Bytes outside the largest multiple of 62 are discarded rather than
 * reduced modulo 62, so every character is equally likely (no modulo bias).
 */
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const LIMIT = 256 - (256 % ALPHABET.length); // 248: bytes >= this would bias the first characters

export function generateSlug(random: (length: number) => Uint8Array = (length) => crypto.getRandomValues(new Uint8Array(length))): string {
  let slug = '';
  while (slug.length < SLUG_LENGTH) {
    for (const byte of random(32)) {
      if (byte >= LIMIT) continue;
      slug += ALPHABET[byte % ALPHABET.length];
      if (slug.length === SLUG_LENGTH) break;
    }
  }
  return slug;
}
