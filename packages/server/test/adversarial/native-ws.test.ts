import { test } from 'node:test';
import { connectionAfterConnection } from './attack-loop.js';
import { type Attacker, runAttack } from './attack-run.js';
import { AttackSocket } from './attack-socket.js';
import { nativeAttacker, nativeDribbler, presenceHoarder } from './native-attack.js';
import { connectFrame, nativeInput } from './native-inputs.js';
import { attackerToken } from './pulse-target.js';
import { HOME_CHANNELS } from './native-attack.js';
import { sleep } from '../helpers.js';
import { Opcode } from './ws-raw.js';
import { wsFrameInput } from './ws-frame-inputs.js';

const overWs = (a: Attacker, label: string) => AttackSocket.ws(a.target.httpPort, '/ws', a.recorder, label);

/** Hostile WebSocket framing around native frames, on connections that authenticated first. */
async function framingAttacker(a: Attacker): Promise<void> {
  const token = await attackerToken();
  await connectionAfterConnection(
    a,
    overWs,
    'ws-framing',
    async (s) => {
      if (a.rng.bool(0.7)) await s.send('connect', connectFrame(token));
      return (rng) => ({ ...wsFrameInput(rng, nativeInput(rng).bytes), raw: true });
    },
    { burst: [1, 6] },
  );
}

/** A JSON client on the native attackers' home channels: their presence events are encoded as JSON too. */
async function jsonWatcher(a: Attacker): Promise<void> {
  const s = await AttackSocket.ws(a.target.httpPort, '/ws', a.recorder, 'json-watcher', {
    opcode: Opcode.text,
  });
  const request = (id: number, method: string, params: object) =>
    Buffer.from(JSON.stringify({ id, method, params }));
  await s.send('connect', request(0, 'connect', { token: await attackerToken() }));
  for (const [i, channel] of HOME_CHANNELS.entries())
    await s.send(`subscribe ${channel}`, request(i + 1, 'subscribe', { channel }));
  while (a.active() && !s.closed) await sleep(50);
  s.destroy();
}

test('native over WebSocket: seeded hostile frames and framing (extension types, deep nesting, declared lengths up to 2^64), presence hoarding and dribbling leave bystanders and memory unharmed', () =>
  runAttack({
    file: 'adversarial/native-ws',
    workers: 2,
    attack: (a) => nativeAttacker(a, overWs),
    extras: {
      framingAttacker,
      jsonWatcher,
      presenceHoarder: (a) => presenceHoarder(a, overWs),
      nativeDribbler: (a) => nativeDribbler(a, overWs),
    },
  }));
