/**
 * How the consent page shows a host. URL parsing already gives international names in punycode
 * (`xn--…`), which is what the page shows as the destination: a homograph (`аpple.com` with a
 * Cyrillic а) cannot pass for the real name there. The Unicode form is shown beside it, and a
 * label that mixes scripts gets a warning. Decoding is RFC 3492's, written out here because
 * Workers have no `node:url` `domainToUnicode`.
 */
export interface HostView {
  /** The host as it is sent to (ASCII, punycode for international labels). */
  ascii: string;
  /** The Unicode form, when it differs. */
  unicode?: string;
  /** Scripts mixed inside one label (e.g. Latin and Cyrillic), when any. */
  mixedScripts?: string[];
}

export function viewHost(host: string): HostView {
  const labels = host.split('.');
  if (!labels.some((label) => label.toLowerCase().startsWith('xn--'))) return { ascii: host };
  const decoded = labels.map((label) => (label.toLowerCase().startsWith('xn--') ? (decodePunycode(label.slice(4)) ?? label) : label));
  const mixed = decoded.map(scriptsOf).find((scripts) => scripts.length > 1);
  return { ascii: host, unicode: decoded.join('.'), ...(mixed ? { mixedScripts: mixed } : {}) };
}

const SCRIPTS: [string, RegExp][] = [
  ['Latin', /\p{Script=Latin}/u],
  ['Cyrillic', /\p{Script=Cyrillic}/u],
  ['Greek', /\p{Script=Greek}/u],
  ['Armenian', /\p{Script=Armenian}/u],
  ['Georgian', /\p{Script=Georgian}/u],
  ['Cherokee', /\p{Script=Cherokee}/u],
  ['Hebrew', /\p{Script=Hebrew}/u],
  ['Arabic', /\p{Script=Arabic}/u],
  ['Devanagari', /\p{Script=Devanagari}/u],
  ['Thai', /\p{Script=Thai}/u],
  // Japanese mixes these three by design: one group.
  ['CJK', /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}]/u],
  ['Hangul', /\p{Script=Hangul}/u],
];

function scriptsOf(label: string): string[] {
  const found = new Set<string>();
  for (const character of label) {
    for (const [name, pattern] of SCRIPTS) if (pattern.test(character)) found.add(name);
  }
  return SCRIPTS.map(([name]) => name).filter((name) => found.has(name));
}

/** RFC 3492 §6.2, with its parameters for IDNA (§5). Undefined for input that is not valid punycode. */
function decodePunycode(input: string): string | undefined {
  const base = 36;
  const tMin = 1;
  const tMax = 26;
  const skew = 38;
  const damp = 700;
  const adapt = (delta: number, points: number, first: boolean) => {
    let d = first ? Math.floor(delta / damp) : delta >> 1;
    d += Math.floor(d / points);
    let k = 0;
    while (d > ((base - tMin) * tMax) >> 1) {
      d = Math.floor(d / (base - tMin));
      k += base;
    }
    return k + Math.floor(((base - tMin + 1) * d) / (d + skew));
  };
  const digit = (code: number) =>
    code >= 0x30 && code <= 0x39
      ? code - 22
      : code >= 0x41 && code <= 0x5a
        ? code - 0x41
        : code >= 0x61 && code <= 0x7a
          ? code - 0x61
          : base;

  const delimiter = input.lastIndexOf('-');
  const output = delimiter > 0 ? [...input.slice(0, delimiter)].map((c) => c.codePointAt(0)!) : [];
  let n = 128;
  let i = 0;
  let bias = 72;
  for (let position = delimiter > 0 ? delimiter + 1 : 0; position < input.length; ) {
    const oldI = i;
    let w = 1;
    for (let k = base; ; k += base) {
      if (position >= input.length) return undefined;
      const value = digit(input.charCodeAt(position++));
      if (value >= base) return undefined;
      i += value * w;
      const t = k <= bias ? tMin : k >= bias + tMax ? tMax : k - bias;
      if (value < t) break;
      w *= base - t;
      if (i > 0x10ffff * 64) return undefined;
    }
    bias = adapt(i - oldI, output.length + 1, oldI === 0);
    n += Math.floor(i / (output.length + 1));
    i %= output.length + 1;
    if (n > 0x10ffff) return undefined;
    output.splice(i++, 0, n);
  }
  return String.fromCodePoint(...output);
}
