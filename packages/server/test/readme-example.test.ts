// The README's TypeScript examples: compiled under `strict` as a user would, then run against a
// real server (their ports swapped for the test server's).
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
// Inside the workspace, so that `@pulse/client` and `ws` resolve as they do for its code.
const dir = join(repo, 'packages/server/dist/readme-example');
after(() => rmSync(dir, { recursive: true, force: true }));

const blocks = [...readFileSync(join(repo, 'README.md'), 'utf8').matchAll(/```ts\n([\s\S]*?)```/g)].map((m) =>
  at(m, 1),
);

test('the README has the WebSocket and the TCP client examples', () => {
  assert.equal(blocks.length, 2);
  assert.match(at(blocks, 0), /PulseClient\.connect\(/);
  assert.match(at(blocks, 1), /await PulseClient\.over\(await openTcp\(/);
});

test('the README client examples type-check under strict and run against a server', async () => {
  mkdirSync(dir, { recursive: true });
  const files = blocks.map((_, i) => `example${i}.ts`);
  for (const [i, code] of blocks.entries()) writeFileSync(join(dir, at(files, i)), `${code}\nexport {};\n`);
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        strict: true,
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        target: 'ES2022',
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
    const httpPort = new URL(h.httpUrl).port;
    const ports: Record<string, string> = { '8080': httpPort, '8081': String(h.tcpPort) };
    for (const [i, file] of files.entries()) {
      const js = join(dir, file.replace(/\.ts$/, '.js'));
      writeFileSync(
        js,
        readFileSync(js, 'utf8').replace(/(127\.0\.0\.1[:', ]+)(8080|8081)\b/g, (_, a, p) => a + ports[p]),
      );
      // Not spawnSync: the server runs in this process.
      const ran = await run(process.execPath, [js], { encoding: 'utf8', timeout: 20_000 });
      if (i === 0) assert.match(ran.stdout, /dashboard/, 'presence sync shows the member joined');
    }
  } finally {
    await h.stop();
  }
});
