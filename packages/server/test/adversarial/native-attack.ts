import { sleep } from '../helpers.js';
import { connectionAfterConnection } from './attack-loop.js';
import type { Attacker, Opener } from './attack-run.js';
import * as mp from './msgpack-raw.js';
import {
  connectFrame,
  hugeDeclaredFrame,
  nativeFrame,
  nativeInput,
  prefixed,
  subscribeFrame,
} from './native-inputs.js';
import { attackerToken } from './pulse-target.js';

/** The channels native attackers subscribe to and mostly use. */
export const HOME_CHANNELS = ['attack/home0', 'attack/home1', 'attack/home2'];

/**
 * Connection after connection: mostly authenticated as a user confined to `attack/#`, a
 * burst of hostile frames, sometimes a frame that announces far more than follows.
 */
export async function nativeAttacker(a: Attacker, open: Opener): Promise<void> {
  const token = await attackerToken();
  await connectionAfterConnection(
    a,
    open,
    'native',
    async (s) => {
      if (a.rng.bool(0.85)) await s.send('connect', connectFrame(token));
      // Workers share home channels: one's presence events are encoded for the others too.
      const home = a.rng.pick(HOME_CHANNELS);
      await s.send('subscribe home', subscribeFrame(home));
      return (rng) => nativeInput(rng, home);
    },
    { burst: [1, 30], last: hugeDeclaredFrame, keep: 8 },
  );
}

/**
 * Presence data as large as a frame lets it be, on channel after channel: a connection's
 * presence must count against limits and its data must have a small cap, so the server's
 * memory stays flat however much is sent (here up to 320 MiB).
 */
export async function presenceHoarder(a: Attacker, open: Opener): Promise<void> {
  const s = await open(a, `hoarder#${a.worker}`);
  await s.send('connect', connectFrame(await attackerToken()));
  const data = mp.map({ blob: mp.bin(a.rng.bytes(2 * 1024 * 1024)) });
  for (let i = 0; i < 160 && a.active() && !s.closed; i++) {
    const join = nativeFrame({
      type: mp.str('presence'),
      channel: mp.str(`attack/hoard/${i}`),
      action: mp.int(0),
      data,
    });
    await s.send(`presence join attack/hoard/${i} with 2 MiB of data`, join, 2000);
    await sleep(25);
  }
  s.destroy();
}

/**
 * A few connections that announce a 16 MiB frame and send it a byte at a time: what the
 * server holds for them must stay within a small multiple of what it received.
 */
export async function nativeDribbler(a: Attacker, open: Opener): Promise<void> {
  const token = await attackerToken();
  await Promise.all(
    [0, 1, 2].map(async (k) => {
      const s = await open(a, `dribbler#${a.worker}.${k}`);
      if (k > 0) await s.send('connect', connectFrame(token));
      const declared = 16 * 1024 * 1024;
      const start = Buffer.concat([prefixed(Buffer.alloc(0), declared - 4), a.rng.bytes(64 * 1024)]);
      await s.dribble('16 MiB frame', start, declared, 2, a.deadline);
      s.destroy();
    }),
  );
}
