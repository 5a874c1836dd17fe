import { test } from 'node:test';
import { connectionAfterConnection } from './attack-loop.js';
import { type Attacker, runAttack } from './attack-run.js';
import { AttackSocket } from './attack-socket.js';
import { jsonInput } from './json-inputs.js';
import { nativeInput } from './native-inputs.js';
import { attackerToken } from './pulse-target.js';
import { wsFrameInput } from './ws-frame-inputs.js';
import { Opcode } from './ws-raw.js';

const textOverWs = (a: Attacker, label: string) =>
  AttackSocket.ws(a.target.httpPort, '/ws', a.recorder, label, { opcode: Opcode.text });

/** JSON connections: a valid connect, a subscription to its own channels (so it gets pushes), then hostile requests. */
async function jsonAttacker(a: Attacker): Promise<void> {
  const token = await attackerToken();
  await connectionAfterConnection(
    a,
    textOverWs,
    'json',
    async (s) => {
      if (a.rng.bool(0.85)) await s.send('connect', request('connect', { token }));
      for (const channel of ['attack/j0', 'attack/j1'])
        await s.send('subscribe', request('subscribe', { channel }));
      return (rng) =>
        rng.bool(0.1) ? { ...wsFrameInput(rng, nativeInput(rng).bytes), raw: true } : jsonInput(rng);
    },
    { burst: [1, 30] },
  );
}

const request = (method: string, params: object) =>
  Buffer.from(JSON.stringify({ id: method, method, params }));

test('JSON protocol (/ws text): seeded hostile requests (deep nesting, huge numbers, lone surrogates, deep channels) and framing leave bystanders and memory unharmed', () =>
  runAttack({ file: 'adversarial/json', workers: 3, attack: jsonAttacker }));
