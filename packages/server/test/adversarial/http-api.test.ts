import { test } from 'node:test';
import { connectionAfterConnection } from './attack-loop.js';
import { type Attacker, runAttack } from './attack-run.js';
import { AttackSocket } from './attack-socket.js';
import { httpInput } from './http-inputs.js';

const overTcp = (a: Attacker, label: string) => AttackSocket.tcp(a.target.httpPort, a.recorder, label);

/** Keep-alive connections that pipeline a few hostile requests each, one in ten cut off half-way. */
async function httpAttacker(a: Attacker): Promise<void> {
  await connectionAfterConnection(
    a,
    overTcp,
    'http',
    async () => (rng) => {
      const input = httpInput(rng);
      return {
        ...input,
        bytes: rng.bool(0.1) ? input.bytes.subarray(0, rng.int(input.bytes.length)) : input.bytes,
        raw: true,
      };
    },
    { burst: [1, 5] },
  );
}

test('HTTP API: seeded hostile requests with a valid key (deep and huge JSON, lying lengths, chunk sizes of 2^64, thousands of headers) leave bystanders and memory unharmed', () =>
  runAttack({ file: 'adversarial/http-api', workers: 3, attack: httpAttacker }));
