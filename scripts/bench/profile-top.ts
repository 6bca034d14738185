/**
 * Reads a V8 .cpuprofile (node --cpu-prof) and prints where the time went: the functions with the
 * most self time, and top-down the inclusive time of the frames under the request handler.
 *   node scripts/bench/profile-top.ts FILE.cpuprofile [rows]
 */
import { readFileSync } from 'node:fs';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount: number;
  children?: number[];
}
const profile = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as { nodes: Node[]; samples: number[]; timeDeltas: number[] };
const rows = Number(process.argv[3] ?? 30);
const byId = new Map(profile.nodes.map((node) => [node.id, node]));
const total = profile.nodes.reduce((sum, node) => sum + node.hitCount, 0);
const name = (node: Node) => {
  const file = node.callFrame.url.replace(/^file:\/\/.*?\/(node_modules\/|src\/)/, '$1').replace(/^node:/, '');
  return `${node.callFrame.functionName || '(anonymous)'} ${file}:${node.callFrame.lineNumber + 1}`;
};

const self = new Map<string, number>();
for (const node of profile.nodes) self.set(name(node), (self.get(name(node)) ?? 0) + node.hitCount);
console.log(`${total} samples; self time:`);
for (const [label, hits] of [...self].sort((a, b) => b[1] - a[1]).slice(0, rows)) {
  console.log(`${((100 * hits) / total).toFixed(1).padStart(5)}%  ${label}`);
}

// Inclusive time per file (a frame's file, counted once per sample stack), to see which module costs.
const inclusive = new Map<number, number>();
const visit = (node: Node): number => {
  let sum = node.hitCount;
  for (const child of node.children ?? []) sum += visit(byId.get(child)!);
  inclusive.set(node.id, sum);
  return sum;
};
visit(profile.nodes[0]!);
const byFile = new Map<string, number>();
const walk = (node: Node, seen: Set<string>) => {
  const file = node.callFrame.url.replace(/^file:\/\/.*?\/(node_modules\/[^/]+(?:\/[^/]+)?|src\/[^:]+)(\/.*)?$/, '$1') || '(native)';
  if (!seen.has(file)) byFile.set(file, (byFile.get(file) ?? 0) + node.hitCount);
  const next = new Set(seen).add(file);
  for (const child of node.children ?? []) walk(byId.get(child)!, next);
};
console.log('\ninclusive time by module (top-down):');
const fileTotals = new Map<string, number>();
const accumulate = (node: Node, onStack: Set<string>) => {
  const file = node.callFrame.url.replace(/^file:\/\/.*?\/(node_modules\/(?:@[^/]+\/)?[^/]+|src\/.*)$/, '$1') || '(native)';
  const stack = new Set(onStack).add(file);
  for (const f of stack) if (node.hitCount) fileTotals.set(f, (fileTotals.get(f) ?? 0) + node.hitCount);
  for (const child of node.children ?? []) accumulate(byId.get(child)!, stack);
};
accumulate(profile.nodes[0]!, new Set());
void walk;
for (const [file, hits] of [...fileTotals].sort((a, b) => b[1] - a[1]).slice(0, rows)) {
  console.log(`${((100 * hits) / total).toFixed(1).padStart(5)}%  ${file}`);
}
