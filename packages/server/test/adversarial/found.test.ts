import assert from 'node:assert/strict';
import { at } from '@pulse/protocol/test/element';
import { test } from 'node:test';
import { sleep } from '../helpers.js';
import { AttackSocket } from './attack-socket.js';
import { startTarget } from './pulse-target.js';
import { upgradeHeaders, upgradeRequest } from './ws-raw.js';

/** Bugs the fuzzers found that issue 9 does not list, reduced to their inputs. */

test('a refused WebSocket upgrade (404 or 400) whose client resets the connection does not take the process down', async () => {
  const target = await startTarget();
  const recorder = { input() {}, leak() {} };
  try {
    const host = `127.0.0.1:${target.httpPort}`;
    const refused = [
      upgradeRequest('/nosuch', upgradeHeaders(host)),
      upgradeRequest('/ws', [
        ...upgradeHeaders(host).filter((h) => !h.startsWith('Sec-WebSocket-Key')),
        'Sec-WebSocket-Key: short',
      ]),
    ];
    for (let i = 0; i < 20; i++) {
      const s = await AttackSocket.tcp(target.httpPort, recorder, `reset#${i}`);
      await s.sendRaw('refused upgrade', at(refused, i % 2));
      s.destroy();
    }
    await sleep(300);
    assert.ok(target.alive(), `the server exited:\n${target.process.output().slice(-1500)}`);
    assert.equal(await target.health(), 200);
  } finally {
    await target.stop();
  }
});
