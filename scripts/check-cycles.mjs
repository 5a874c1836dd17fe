// Fails on any import cycle between the source files of the workspace packages, type-only
// imports included (a type cycle is still two files that cannot be understood apart).
// Usage: node scripts/check-cycles.mjs [packages folder]
// Exit 1 with one line a cycle when there are any.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import madge from 'madge';

const root = process.argv[2] ?? 'packages';
const sources = readdirSync(root)
  .map((pkg) => join(root, pkg, 'src'))
  .filter((dir) => existsSync(dir));
const graph = await madge(sources, {
  baseDir: '.',
  fileExtensions: ['ts'],
  detectiveOptions: { ts: { skipTypeImports: false }, tsx: { skipTypeImports: false } },
});
const cycles = graph.circular();
if (cycles.length > 0) {
  console.error(`import cycles in ${root}/*/src (${cycles.length}):`);
  for (const cycle of cycles) console.error(`  ${[...cycle, cycle[0]].join(' -> ')}`);
  process.exitCode = 1;
} else {
  console.log(`import cycles in ${root}/*/src: none`);
}
