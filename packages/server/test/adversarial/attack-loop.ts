import { sleep } from '../helpers.js';
import type { Attacker, Opener } from './attack-run.js';
import type { AttackSocket } from './attack-socket.js';
import { FUZZ_ONLY, type Rng } from './fuzz-settings.js';
import type { Input } from './native-inputs.js';

/** What one connection of a loop sends: its opening (connect, subscribe...) and a generator for the rest. */
export type ConnectionScript = (s: AttackSocket, n: number) => Promise<(rng: Rng) => Input>;

export interface LoopOptions {
  /** Inputs per connection, at least and at most. */
  burst: [number, number];
  /** Sent last on one connection in ten (e.g. a frame that announces far more than follows). */
  last?: (rng: Rng) => Input;
  /** Leave up to this many connections open (idle, mid-frame) until the end. */
  keep?: number;
}

/**
 * Connection after connection until the attack's time is up: the script's opening, a burst of
 * its inputs, then a polite end (FIN), a reset, or the connection left open.
 */
export async function connectionAfterConnection(
  a: Attacker,
  open: Opener,
  label: string,
  script: ConnectionScript,
  options: LoopOptions,
): Promise<void> {
  const kept: AttackSocket[] = [];
  for (let n = 0; a.active(); n++) {
    const s = await open(a, `${label}#${a.worker}.${n}`).catch(() => undefined);
    if (!s) {
      await sleep(20);
      continue;
    }
    const next = await script(s, n);
    const burst = a.rng.range(...options.burst);
    for (let i = 0; i < burst && a.active() && !s.closed; i++) {
      const input = next(a.rng);
      if (!FUZZ_ONLY || FUZZ_ONLY.test(input.what))
        await (input.raw ? s.sendRaw(input.what, input.bytes) : s.send(input.what, input.bytes));
      // Paced: a hostile client, not a flood (no single-threaded server keeps latency under a flood).
      await sleep(a.rng.range(2, 12));
    }
    const ending = a.rng.int(10);
    if (ending === 0 && options.last) {
      const input = options.last(a.rng);
      await s.send(input.what, input.bytes);
    }
    if (ending <= 1 && kept.length < (options.keep ?? 0)) kept.push(s);
    else if (ending <= 5) s.end();
    else s.destroy();
    await sleep(a.rng.range(1, 5));
  }
  for (const s of kept) s.destroy();
}
