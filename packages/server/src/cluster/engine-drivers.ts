/**
 * The engine servers' drivers, loaded when an engine first connects: a node without `[cluster]`
 * never loads them (ioredis alone is about 14 MiB of a fresh server's memory; docs/BENCHMARKS.md,
 * idle memory). Each is imported once; after the first load the module is at hand at once.
 */
type Ioredis = { Redis: typeof import('ioredis').Redis };
type Nats = typeof import('@nats-io/transport-node');

let ioredis: Promise<Ioredis> | undefined;
let nats: Promise<Nats> | undefined;
let natsLoaded: Nats | undefined;

export function loadIoredis(): Promise<Ioredis> {
  ioredis ??= import('ioredis').then((m) => ({ Redis: m.Redis }));
  return ioredis;
}

export function loadNats(): Promise<Nats> {
  nats ??= import('@nats-io/transport-node').then((m) => {
    natsLoaded = m;
    return m;
  });
  return nats;
}

/** The NATS driver, once `loadNats` has resolved (a connection exists only after it). */
export function loadedNats(): Nats {
  if (natsLoaded === undefined) throw new Error('the NATS driver is not loaded yet');
  return natsLoaded;
}
