import { test } from 'node:test';
import { connectionAfterConnection } from './attack-loop.js';
import { type Attacker, runAttack } from './attack-run.js';
import { AttackSocket } from './attack-socket.js';
import { upgradeInput } from './upgrade-inputs.js';
import { upgradeHeaders, upgradeRequest } from './ws-raw.js';

const overTcp = (a: Attacker, label: string) => AttackSocket.tcp(a.target.httpPort, a.recorder, label);

/** Malformed handshakes, one per connection, then a FIN, a reset, or the connection held open. */
async function upgradeAttacker(a: Attacker): Promise<void> {
  const host = `127.0.0.1:${a.target.httpPort}`;
  await connectionAfterConnection(
    a,
    overTcp,
    'upgrade',
    async () => (rng) => ({ ...upgradeInput(rng, host), raw: true }),
    {
      burst: [1, 1],
      keep: 8,
    },
  );
}

/** Handshakes sent a byte at a time: the handshake deadline must cut them off, whatever comes. */
async function handshakeDribbler(a: Attacker): Promise<void> {
  const host = `127.0.0.1:${a.target.httpPort}`;
  await Promise.all(
    ['/ws', '/mqtt'].map(async (path, k) => {
      const s = await overTcp(a, `upgrade-dribbler#${k}`);
      const request = upgradeRequest(path, [
        ...upgradeHeaders(host, k ? 'mqtt' : undefined),
        `X-Pad: ${'p'.repeat(4000)}`,
      ]);
      await s.dribble(`handshake on ${path}`, request, request.length, 5, a.deadline);
      s.destroy();
    }),
  );
}

test('WebSocket upgrade: seeded malformed handshakes (bad keys and versions, huge headers and paths, cut requests, dribbled ones) leave bystanders and memory unharmed', () =>
  runAttack({
    file: 'adversarial/ws-upgrade',
    workers: 3,
    attack: upgradeAttacker,
    extras: { handshakeDribbler },
  }));
