// packages/client/README.md's TypeScript blocks, compiled under `strict` as a Node 20 user's
// project would (no DOM library: `ws` is the WebSocket), and its first block, the quick start,
// run against a real server (its port swapped for the test server's).
import assert from 'node:assert/strict';
import { at } from '@pulse/protocol/test/element';
import { execFile, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, test } from 'node:test';
import { startServer } from './helpers.js';

const run = promisify(execFile);
const repo = fileURLToPath(new URL('../../../../', import.meta.url));
const tsc = join(repo, 'node_modules/typescript/bin/tsc');
// Inside the workspace, so that `@pulse/client` resolves through its package.json `exports`.
const dir = join(repo, 'packages/server/dist/client-readme-example');
after(() => rmSync(dir, { recursive: true, force: true }));

const readme = readFileSync(join(repo, 'packages/client/README.md'), 'utf8');
const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => at(m, 1));
const quickStart = at(blocks, 0);

test('the client README starts with a Node quick start over ws', () => {
  assert.match(quickStart, /^import WebSocket from 'ws';/m);
  assert.match(quickStart, /new Pulse\('ws:\/\/127\.0\.0\.1:8080\/ws', \{ WebSocket \}\)/);
  assert.ok(blocks.length >= 3, 'the quick start, tokens and transports examples');
});

test('every client README block type-checks under strict; the quick start runs against a server', async () => {
  mkdirSync(dir, { recursive: true });
  // The same quick start with the named export, which the issue found did not type-check.
  const named = quickStart.replace(/^import WebSocket from 'ws';/m, "import { WebSocket } from 'ws';");
  assert.notEqual(named, quickStart);
  const sources = [...blocks, named];
  const files = sources.map((_, i) => `example${i}.ts`);
  for (const [i, code] of sources.entries()) writeFileSync(join(dir, at(files, i)), `${code}\nexport {};\n`);
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        strict: true,
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        target: 'ES2022',
        lib: ['ES2022'],
        types: ['node'],
        outDir: '.',
      },
      files,
    }),
  );
  writeFileSync(join(dir, 'package.json'), '{"type":"module"}\n');
  const compiled = spawnSync(process.execPath, [tsc, '-p', dir], { encoding: 'utf8' });
  assert.equal(compiled.status, 0, `tsc:\n${compiled.stdout}${compiled.stderr}`);

  const h = await startServer();
  try {
    const port = new URL(h.httpUrl).port;
    for (const file of [at(files, 0), at(files, sources.length - 1)]) {
      const js = join(dir, file.replace(/\.ts$/, '.js'));
      writeFileSync(js, readFileSync(js, 'utf8').replace('127.0.0.1:8080', `127.0.0.1:${port}`));
      // Not spawnSync: the server runs in this process.
      const ran = await run(process.execPath, [js], { encoding: 'utf8', timeout: 20_000 });
      assert.match(ran.stdout, /pulse is connected/);
      assert.match(ran.stdout, /got hello/, 'the subscription received the publication');
      assert.match(ran.stdout, /members: \{ '?[0-9a-f]+'?: \{ name: 'ann' \} \}/, 'presence shows the join');
      assert.match(ran.stdout, /stopped for good: closed/, 'close() ends it');
    }
  } finally {
    await h.stop();
  }
});
