#!/usr/bin/env node
// Serves the chat page and the SDK's browser bundle: node examples/web-client/serve.mjs [--port 8090]
// (--port 0: any free port). The page talks to the Pulse server named in its ?server= parameter
// (default ws://<this host>:8080/ws); see README.md.
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: { port: { type: 'string', default: '8090' }, host: { type: 'string', default: '127.0.0.1' } },
});
const here = new URL('./', import.meta.url);
const bundle = new URL('../../packages/client/dist/browser/', import.meta.url);
const FILES = {
  '/': [new URL('index.html', here), 'text/html; charset=utf-8'],
  '/chat.js': [new URL('chat.js', here), 'text/javascript; charset=utf-8'],
  '/raw-frames.html': [new URL('raw-frames.html', here), 'text/html; charset=utf-8'],
  '/raw-frames.js': [new URL('raw-frames.js', here), 'text/javascript; charset=utf-8'],
  '/pulse.min.js': [new URL('pulse.min.js', bundle), 'text/javascript; charset=utf-8'],
  '/pulse.min.js.map': [new URL('pulse.min.js.map', bundle), 'application/json'],
};

const server = createServer(async (req, res) => {
  const file = FILES[new URL(req.url ?? '/', 'http://x').pathname];
  if (!file || (req.method !== 'GET' && req.method !== 'HEAD')) {
    res.writeHead(404).end('not found\n');
    return;
  }
  try {
    const body = await readFile(file[0]);
    res.writeHead(200, { 'content-type': file[1], 'cache-control': 'no-store' }).end(body);
  } catch {
    res.writeHead(500).end(`cannot read ${file[0].pathname} (did \`npm run build\` run?)\n`);
  }
});
server.listen(Number(values.port), values.host, () => {
  const { port } = server.address();
  console.log(`pulse chat example on http://${values.host}:${port}/`);
});
