// Bundles the server's two entry points (the `pulse` command and a `--workers` worker) into
// packages/server/dist/bundle, which bin/pulse.js runs. Why: a fresh server that loads ~210
// module files pays per-module memory and gets node's module loader hot enough to start the
// optimizing compiler; the bundle loads ~12 files and stays at ~49 MiB (docs/BENCHMARKS.md,
// "Fresh server"). What a configuration may not use (zod's API schemas, prom-client, jose,
// ioredis, nats) stays behind dynamic imports, in chunks of their own, loaded when used.
// Run after `tsc -b` (npm run build, npm test and npm run bench do).
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const server = fileURLToPath(new URL('../packages/server/', import.meta.url));
const outdir = `${server}dist/bundle`;

/**
 * msgpackr's native string decoder (msgpackr-extract, used for frames of 140 bytes and more) finds
 * its prebuilt addon at run time by searching its directory through node's CommonJS loader; that
 * search alone gets node's path functions optimized (+4 MiB for a fresh server). The addon's path
 * is resolved here instead, once, as a native build would be; if it cannot be, or does not load
 * at run time (another node ABI), msgpackr decodes in JavaScript, as it does without the addon.
 */
function msgpackrExtractAddon() {
  try {
    const fromMsgpackr = createRequire(createRequire(`${server}package.json`).resolve('msgpackr'));
    const extract = dirname(fromMsgpackr.resolve('msgpackr-extract/package.json'));
    return createRequire(`${extract}/`)('node-gyp-build-optional-packages').path(extract);
  } catch {
    return undefined;
  }
}
const addon = msgpackrExtractAddon();
const addonPlugin = {
  name: 'msgpackr-extract-addon',
  setup(b) {
    b.onResolve({ filter: /^msgpackr-extract$/ }, () => ({ path: 'addon', namespace: 'msgpackr-extract' }));
    b.onLoad({ filter: /.*/, namespace: 'msgpackr-extract' }, () => ({
      contents: addon ? `module.exports = require(${JSON.stringify(addon)});` : 'module.exports = undefined;',
    }));
    b.onResolve({ filter: /\.node$/ }, (args) => ({ path: args.path, external: true }));
  },
};

rmSync(outdir, { recursive: true, force: true });
await build({
  entryPoints: [`${server}dist/src/cli.js`, `${server}dist/src/workers/worker-main.js`],
  entryNames: '[name]',
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // Names are kept, so that a logged stack trace still reads.
  minifyWhitespace: true,
  minifySyntax: true,
  // Loaded from their own packages, as node loads them, when first used: a native addon (when a
  // store file opens), the engine drivers (when a cluster engine connects), JWT verification,
  // Prometheus, the API's body schemas. Bundling them would save nothing at start-up.
  external: ['better-sqlite3', 'ioredis', '@nats-io/*', 'jose', 'prom-client', 'zod'],
  plugins: [addonPlugin],
  // The CommonJS dependencies inside the bundle call require() for node's built-in modules.
  banner: {
    js: "import{createRequire as __pulseRequire}from'node:module';const require=__pulseRequire(import.meta.url);",
  },
  logLevel: 'warning',
});
mkdirSync(outdir, { recursive: true });
// Ends node's search for the package scope of every chunk here instead of walking up the tree
// for each one: that walk alone got the loader's URL-to-path function optimized (+4 MiB).
writeFileSync(`${outdir}/package.json`, '{"type":"module"}\n');
