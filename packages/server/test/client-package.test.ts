// `npm pack` of @pulse/client, installed into an empty project outside the workspace with
// `npm install --offline` (its dependency and `ws` packed from the workspace's node_modules, as
// the registry would serve them): the README's quick start type-checks against the published
// declarations and runs against a real server, every entry point loads, and the README's
// figure for the browser bundle is the bundle's size.
import assert from 'node:assert/strict';
import { at } from '@pulse/protocol/test/element';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { after, before, test } from 'node:test';
import { startServer } from './helpers.js';

const run = promisify(execFile);
const repo = fileURLToPath(new URL('../../../../', import.meta.url));
const tsc = join(repo, 'node_modules/typescript/bin/tsc');
const project = mkdtempSync(join(tmpdir(), 'pulse-client-package-'));
after(() => rmSync(project, { recursive: true, force: true }));

interface PackResult {
  filename: string;
  files: { path: string }[];
}

/** `npm pack` of a directory into the project; scripts off: scripts/test.mjs built the bundles. */
async function pack(dir: string): Promise<PackResult> {
  const { stdout } = await run(
    'npm',
    ['pack', '--json', '--ignore-scripts', '--pack-destination', project, dir],
    { cwd: repo, encoding: 'utf8' },
  );
  return at(JSON.parse(stdout) as PackResult[], 0);
}

let client: PackResult;
before(async () => {
  client = await pack('./packages/client');
  const deps = [await pack('./node_modules/msgpackr'), await pack('./node_modules/ws')];
  writeFileSync(
    join(project, 'package.json'),
    '{"name":"app","version":"1.0.0","private":true,"type":"module"}\n',
  );
  await run(
    'npm',
    [
      'install',
      '--offline',
      '--ignore-scripts',
      '--no-audit',
      '--no-fund',
      ...[client, ...deps].map((p) => `./${p.filename}`),
    ],
    { cwd: project, encoding: 'utf8', timeout: 30_000 },
  );
});

test('the tarball holds the bundles, the declarations and the README, and depends on msgpackr alone', () => {
  const paths = client.files.map((f) => f.path);
  for (const path of [
    'README.md',
    'package.json',
    'dist/pkg/index.js',
    'dist/pkg/tcp.js',
    'dist/pkg/http.js',
  ])
    assert.ok(paths.includes(path), path);
  assert.ok(paths.includes('dist/browser/pulse.min.js'));
  assert.ok(paths.includes('dist/src/index.d.ts'));
  assert.deepEqual(
    paths.filter((p) => p.startsWith('dist/src/') && !p.endsWith('.d.ts')),
    [],
    'no tsc output but declarations',
  );
  assert.ok(!paths.some((p) => p.includes('/test/')), 'no tests');
  const installed = JSON.parse(
    readFileSync(join(project, 'node_modules/@pulse/client/package.json'), 'utf8'),
  ) as { private?: boolean; dependencies: Record<string, string> };
  assert.equal(installed.private, undefined);
  assert.deepEqual(Object.keys(installed.dependencies), ['msgpackr']);
  for (const file of ['index.js', 'tcp.js', 'http.js']) {
    const js = readFileSync(join(project, 'node_modules/@pulse/client/dist/pkg', file), 'utf8');
    assert.doesNotMatch(js, /@pulse\/protocol/, `${file} imports nothing of the workspace`);
  }
});

test('the README quick start type-checks against the installed package and runs against a server', async () => {
  const readme = readFileSync(join(project, 'node_modules/@pulse/client/README.md'), 'utf8');
  const quickStart = at(at([...readme.matchAll(/```ts\n([\s\S]*?)```/g)], 0), 1);
  writeFileSync(join(project, 'example.ts'), `${quickStart}\nexport {};\n`);
  // Type definitions only: node's and ws's, from the workspace (the package has its own).
  symlinkSync(join(repo, 'node_modules/@types'), join(project, 'node_modules/@types'));
  writeFileSync(
    join(project, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        strict: true,
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        target: 'ES2022',
        lib: ['ES2022'],
        types: ['node'],
      },
      files: ['example.ts'],
    }),
  );
  const compiled = await run(process.execPath, [tsc, '-p', project], {
    cwd: project,
    encoding: 'utf8',
  }).catch((err: { stdout: string }) => assert.fail(`tsc:\n${err.stdout}`));
  assert.equal(compiled.stderr, '');

  const h = await startServer();
  try {
    const port = new URL(h.httpUrl).port;
    const js = join(project, 'example.js');
    writeFileSync(js, readFileSync(js, 'utf8').replace('127.0.0.1:8080', `127.0.0.1:${port}`));
    const ran = await run(process.execPath, [js], { cwd: project, encoding: 'utf8', timeout: 20_000 });
    assert.match(ran.stdout, /got hello/);
    assert.match(ran.stdout, /members: \{ '?[0-9a-f]+'?: \{ name: 'ann' \} \}/);

    // The other entry points, from the installed package: TCP, HTTP streaming, the browser bundle.
    writeFileSync(
      join(project, 'entries.mjs'),
      `import { Pulse, PulseClient } from '@pulse/client';
import { openTcp } from '@pulse/client/tcp';
import { openHttpStream } from '@pulse/client/http';
import * as browser from '@pulse/client/browser';
const [http, tcpPort] = process.argv.slice(2);
const tcp = await PulseClient.over(await openTcp('127.0.0.1', Number(tcpPort)));
const overHttp = new Pulse('unused', { transports: [() => openHttpStream(http)], networkEvents: null });
overHttp.connect();
const got = new Promise((resolve) => overHttp.subscribe('pkg', (p) => resolve(new TextDecoder().decode(p.payload))));
await overHttp.getSubscription('pkg').ready();
await tcp.publish('pkg', 'over tcp to http');
console.log(await got, typeof browser.Pulse, typeof browser.openHttpStream);
overHttp.close();
await tcp.close();
`,
    );
    const entries = await run(process.execPath, ['entries.mjs', h.httpUrl, String(h.tcpPort)], {
      cwd: project,
      encoding: 'utf8',
      timeout: 20_000,
    });
    assert.equal(entries.stdout.trim(), 'over tcp to http function function');
  } finally {
    await h.stop();
  }
});

test("the README's size of the browser bundle is the bundle's (within 0.5 KiB)", () => {
  const bundle = readFileSync(join(project, 'node_modules/@pulse/client/dist/browser/pulse.min.js'));
  const readme = readFileSync(join(repo, 'packages/client/README.md'), 'utf8');
  const stated = /([\d.]+) KiB minified,\s+\*\*([\d.]+) KiB min\+gzip\*\*/.exec(readme);
  assert.ok(stated, 'the README states the sizes');
  const kib = (n: number) => n / 1024;
  assert.ok(Math.abs(kib(bundle.length) - Number(stated[1])) < 0.5, `minified: ${kib(bundle.length)} KiB`);
  const gz = gzipSync(bundle, { level: 9 }).length;
  assert.ok(Math.abs(kib(gz) - Number(stated[2])) < 0.5, `min+gzip: ${kib(gz)} KiB`);
  assert.doesNotMatch(bundle.toString(), /^import\s|from\s*["'][^./]/m, 'the bundle imports nothing');
});
