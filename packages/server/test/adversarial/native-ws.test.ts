import { test } from 'node:test';
import { connectionAfterConnection } from './attack-loop.js';
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

test('native over WebSocket: seeded hostile frames and framing (extension types, deep nesting, declared lengths up to 2^64), presence hoarding and dribbling leave bystanders and memory unharmed', () =>
  runAttack({
    file: 'adversarial/native-ws',
    workers: 2,
    attack: (a) => nativeAttacker(a, overWs),
    extras: {
      framingAttacker,
      presenceHoarder: (a) => presenceHoarder(a, overWs),
      nativeDribbler: (a) => nativeDribbler(a, overWs),
    },
  }));
