import { test } from 'node:test';
import { sleep } from '../helpers.js';
import { type Attacker, runAttack } from './attack-run.js';
import { AttackSocket } from './attack-socket.js';
import { nativeAttacker, nativeDribbler, presenceHoarder } from './native-attack.js';
import { connectFrame, nativeInput } from './native-inputs.js';
import { attackerToken } from './pulse-target.js';
import { wsFrameInput } from './ws-frame-inputs.js';

const overWs = (a: Attacker, label: string) => AttackSocket.ws(a.target.httpPort, '/ws', a.recorder, label);

/** Hostile WebSocket framing around native frames, on connections that authenticated first. */
async function framingAttacker(a: Attacker): Promise<void> {
  const token = await attackerToken();
  for (let n = 0; a.active(); n++) {
    const s = await overWs(a, `ws-framing#${a.worker}.${n}`).catch(() => undefined);
    if (!s) {
      await sleep(20);
      continue;
    }
    if (a.rng.bool(0.7)) await s.send('connect', connectFrame(token));
    for (let i = a.rng.range(1, 6); i > 0 && a.active() && !s.closed; i--) {
      const input = wsFrameInput(a.rng, nativeInput(a.rng).bytes);
      await s.sendRaw(input.what, input.bytes);
    }
    await sleep(2);
    s.destroy();
  }
}

test('native over WebSocket: seeded hostile frames and framing (extension types, deep nesting, declared lengths up to 2^64), presence hoarding and dribbling leave bystanders and memory unharmed', () =>
  runAttack({
    file: 'adversarial/native-ws',
    workers: 2,
    attack: (a) => nativeAttacker(a, overWs),
    extras: [framingAttacker, (a) => presenceHoarder(a, overWs), (a) => nativeDribbler(a, overWs)],
  }));
