import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { test } from 'node:test';

/**
 * Every relative link in README.md and docs/*.md resolves: the file exists, and a `#fragment`
 * names a heading of the page it points into (GitHub's anchor rules). Links to other sites are
 * not fetched (tests stay on loopback).
 */
const ROOT = join(import.meta.dirname, '..', '..');
const pages = [
  'README.md',
  ...readdirSync(join(ROOT, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .map((name) => `docs/${name}`),
];

/** The text outside fenced code blocks, where links are links. */
function prose(markdown: string): string {
  return markdown.replace(/^```[\s\S]*?^```/gm, '');
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens, repeats numbered. */
function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const found = new Set<string>();
  for (const [, heading] of prose(markdown).matchAll(/^#{1,6} +(.+?) *#*$/gm)) {
    const base = heading!
      .replace(/`/g, '')
      .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
      .toLowerCase()
      .replace(/[^\p{L}\p{N} _-]/gu, '')
      .replace(/ /g, '-');
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    found.add(count === 0 ? base : `${base}-${count}`);
  }
  return found;
}

function links(markdown: string): string[] {
  const text = prose(markdown);
  return [...text.matchAll(/\]\(([^)\s]+)\)/g), ...text.matchAll(/<(?:img|a)\s[^>]*(?:src|href)="([^"]+)"/g)].map((match) => match[1]!);
}

test('README.md is at most 300 lines', () => {
  const count = readFileSync(join(ROOT, 'README.md'), 'utf8').split('\n').length;
  assert.ok(count <= 300, `README.md has ${count} lines`);
});

for (const page of pages) {
  test(`every relative link in ${page} resolves`, () => {
    const markdown = readFileSync(join(ROOT, page), 'utf8');
    const broken: string[] = [];
    for (const link of links(markdown)) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(link)) continue;
      const [path, fragment] = link.split('#', 2) as [string, string | undefined];
      const target = path === '' ? join(ROOT, page) : join(ROOT, dirname(page), decodeURI(path));
      if (!target.startsWith(ROOT) || !existsSync(target)) {
        broken.push(`${link}: no file ${relative(ROOT, target)}`);
        continue;
      }
      if (
        fragment !== undefined &&
        target.endsWith('.md') &&
        statSync(target).isFile() &&
        !anchors(readFileSync(target, 'utf8')).has(fragment)
      )
        broken.push(`${link}: no heading #${fragment} in ${relative(ROOT, target)}`);
    }
    assert.deepEqual(broken, []);
  });
}

test('the anchor rule matches GitHub on the headings this project uses', () => {
  assert.deepEqual(
    [...anchors("# A B\n## My client won't connect\n### `PUBLIC_URL` and TLS\n## A B\n")],
    ['a-b', 'my-client-wont-connect', 'public_url-and-tls', 'a-b-1'],
  );
});
