import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { test } from 'node:test';

/**
 * The layout's rule, checked: folders are layers along the data path, and imports point one way,
 * from a higher layer to a lower one (docs/architecture.md). Layers on one line are siblings and
 * must not import each other. No two files may import each other, directly or around a loop.
 */
const LAYERS = [
  ['config', 'crypto', 'endpoint-urls'],
  ['log', 'metrics'],
  ['storage'],
  ['platform'],
  ['audit'],
  ['pages'],
  ['http'],
  ['signin'],
  ['upstream'],
  ['endpoints'],
  ['oauth'],
  ['activity'],
  ['mcp', 'manage', 'teams'],
  ['app'],
  ['adapters/node', 'adapters/cloudflare'],
  ['cli'],
];

const SRC = join(import.meta.dirname, '..', '..', 'src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? sourceFiles(join(dir, entry.name)) : entry.name.endsWith('.ts') ? [join(dir, entry.name)] : [],
  );
}

/** `src/oauth/engine.ts` → `oauth`; `src/app.ts` → `app`; `src/adapters/node/x.ts` → `adapters/node`. */
function layerOf(file: string): string {
  const parts = relative(SRC, file).split('/');
  if (parts.length === 1) return parts[0]!.replace(/\.ts$/, '');
  return parts[0] === 'adapters' ? `adapters/${parts[1]}` : parts[0]!;
}

function rankOf(layer: string): number {
  const rank = LAYERS.findIndex((line) => line.includes(layer));
  assert.notEqual(rank, -1, `src/${layer} is in no layer: add it to LAYERS and to docs/architecture.md`);
  return rank;
}

/** Relative imports of a file, resolved to files (static, dynamic and type-only alike). */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specifiers = [...text.matchAll(/(?:from\s+|import\s*\(\s*|import\s+)['"](\.{1,2}\/[^'"]+)['"]/g)].map((match) => match[1]!);
  return specifiers.map((specifier) => normalize(join(dirname(file), specifier)));
}

const files = sourceFiles(SRC);
const graph = new Map(files.map((file) => [file, importsOf(file)]));

test('every import points from a higher layer to a lower one', () => {
  const wrong: string[] = [];
  for (const [file, imports] of graph) {
    for (const target of imports) {
      const from = layerOf(file);
      const to = layerOf(target);
      if (from !== to && rankOf(to) >= rankOf(from))
        wrong.push(`${relative(SRC, file)} imports ${relative(SRC, target)} (${from} → ${to})`);
    }
  }
  assert.deepEqual(wrong, []);
});

test('no file imports itself around a loop', () => {
  const state = new Map<string, 'open' | 'done'>();
  const cycles: string[] = [];
  const visit = (file: string, path: string[]) => {
    if (state.get(file) === 'done') return;
    if (state.get(file) === 'open') {
      cycles.push([...path.slice(path.indexOf(file)), file].map((f) => relative(SRC, f)).join(' → '));
      return;
    }
    state.set(file, 'open');
    for (const target of graph.get(file) ?? []) visit(target, [...path, file]);
    state.set(file, 'done');
  };
  for (const file of files) visit(file, []);
  assert.deepEqual(cycles, []);
});

test('the checks see the imports they judge', () => {
  // A check that reads no imports passes everything: make sure it reads the ones we know exist.
  assert.ok(graph.get(join(SRC, 'app.ts'))!.includes(join(SRC, 'mcp', 'mcp-route.ts')));
  assert.ok(graph.get(join(SRC, 'adapters', 'node', 'main.ts'))!.includes(join(SRC, 'adapters', 'node', 'server.ts')));
});
