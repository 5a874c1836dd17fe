// Builds what @pulse/client publishes from the tsc output in packages/client/dist/src:
// - dist/pkg: its ESM entry points (".", "./tcp", "./http") with @pulse/protocol's few browser-safe
//   modules inlined, so that the package depends on msgpackr alone and installs without the
//   workspace (@pulse/protocol is private and carries the server's MQTT codec);
// - dist/browser/pulse.min.js: one minified ESM file with msgpackr inside, for a page to import
//   with no bundler (`<script type="module">import { Pulse } from './pulse.min.js'`).
// Run after `tsc -b` (npm run build, npm test and `npm pack` in packages/client do).
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const client = fileURLToPath(new URL('../packages/client/', import.meta.url));
const src = `${client}dist/src`;

rmSync(`${client}dist/pkg`, { recursive: true, force: true });
rmSync(`${client}dist/browser`, { recursive: true, force: true });
await build({
  entryPoints: { index: `${src}/index.js`, tcp: `${src}/tcp-transport.js`, http: `${src}/http-transport.js` },
  outdir: `${client}dist/pkg`,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: ['msgpackr'],
  sourcemap: true,
  logLevel: 'warning',
});
await build({
  entryPoints: [`${src}/index.js`],
  outfile: `${client}dist/browser/pulse.min.js`,
  bundle: true,
  format: 'esm',
  platform: 'browser',
  // Browsers of 2020 on (ES2020: optional chaining, BigInt); nothing here needs newer syntax.
  target: 'es2020',
  minify: true,
  sourcemap: true,
  legalComments: 'eof',
  logLevel: 'warning',
});
