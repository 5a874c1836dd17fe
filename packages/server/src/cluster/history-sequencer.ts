import type { Publication, StreamPosition } from '@pulse/core';

/** Channels whose delivery position a node remembers; past it the least recently used is forgotten. */
export const MAX_SEQUENCED_CHANNELS = 10_000;
/** Publications held per channel while an earlier offset is awaited; past it the gap is filled at once. */
export const MAX_PENDING_PER_CHANNEL = 1000;
/** Epochs of a channel remembered as replaced: late publications of them are dropped. */
const RETIRED_EPOCHS = 4;

interface ChannelState {
  epoch: string;
  /** The offset of the newest publication delivered here. */
  delivered: number;
  /** Offset to deliver up to even when nothing later has arrived (a subscribe waits for it). */
  target: number;
  readonly pending: Map<number, Publication>;
  timer: NodeJS.Timeout | undefined;
  filling: boolean;
  readonly retired: string[];
  /** Publications of another epoch, held while the engine is asked whether the channel moved to it. */
  readonly candidates: Map<string, Publication[]>;
  waiters: { offset: number; done: (ok: boolean) => void }[];
}

export interface SequencerStats {
  /** Offsets given up on: neither delivered live nor found in the engine's history. */
  skipped: number;
  /** Publications that arrived after their offset (overlapping interests, own echoes). */
  duplicates: number;
  /** Publications of an epoch, or past an offset, the engine's stream does not have: forged (or lost by the server), dropped. */
  refused: number;
}

/** What the engine's stream says when asked for offsets `from`..`to` (none when `to` < `from`: the position only). */
export interface FillResult {
  readonly epoch: string;
  /** The stream's newest offset. */
  readonly offset: number;
  /** The publications found, of that epoch. */
  readonly found: Publication[];
}

/**
 * Delivers each history channel's publications to this node's subscribers once each, in offset
 * order, whatever the order they arrive in (the engine's copy from each publishing node, and
 * this node's own appends): a publication whose offset is ahead waits up to `gapWaitMs` for
 * the ones before it, then the missing ones are read from the engine's history (`fill`), and
 * what is still missing is skipped (counted). A new epoch starts the channel over.
 *
 * What other nodes forward is not believed where believing costs the channel: a publication of
 * another epoch switches the channel only once the engine says that is its epoch now (else one
 * forged envelope would retire the real epoch and silence the channel here), and offsets past
 * the engine's newest are dropped when a gap is filled (else one forged offset far ahead would
 * make every real publication a duplicate).
 */
export class HistorySequencer {
  private readonly channels = new Map<string, ChannelState>();
  readonly stats: SequencerStats = { skipped: 0, duplicates: 0, refused: 0 };

  constructor(
    private readonly deliver: (publication: Publication) => number,
    private readonly fill: (
      channel: string,
      epoch: string,
      from: number,
      to: number,
    ) => Promise<FillResult | undefined>,
    private readonly gapWaitMs: number,
  ) {}

  /** The newest position delivered here for `channel`, if any. */
  seen(channel: string): StreamPosition | undefined {
    const state = this.channels.get(channel);
    return state && { epoch: state.epoch, offset: state.delivered };
  }

  /**
   * Delivers `publication` (offset and epoch set) when its turn has come; returns the deliveries
   * made now. `known`: its epoch came from the engine (this node's own append), not from another node.
   */
  offer(publication: Publication, known = false): number {
    const channel = publication.channel;
    const offset = publication.offset as number;
    const epoch = publication.epoch as string;
    let state = this.channels.get(channel);
    if (state === undefined) state = this.create(channel, epoch, offset - 1);
    else this.touch(channel, state);
    if (epoch !== state.epoch) {
      if (state.retired.includes(epoch)) return 0;
      if (!known) {
        this.hold(channel, state, publication);
        return 0;
      }
      state = this.switchTo(channel, state, epoch, offset - 1);
    }
    if (offset <= state.delivered || state.pending.has(offset)) {
      this.stats.duplicates++;
      return 0;
    }
    if (offset !== state.delivered + 1) {
      state.pending.set(offset, publication);
      if (state.pending.size > MAX_PENDING_PER_CHANNEL) this.fillSoon(channel, state, 0);
      else this.fillSoon(channel, state, this.gapWaitMs);
      return 0;
    }
    state.delivered = offset;
    const delivered = this.deliver(publication);
    this.drain(channel, state);
    return delivered;
  }

  /**
   * Resolves once every offset up to `offset` of `epoch` has been delivered (or given up on)
   * here, so that a subscriber added then gets exactly what comes after it. True when the
   * channel is then at that epoch; false when `epoch` is one this node has seen replaced.
   */
  caughtUp(channel: string, epoch: string, offset: number): Promise<boolean> {
    let state = this.channels.get(channel);
    if (state === undefined) {
      this.create(channel, epoch, offset);
      return Promise.resolve(true);
    }
    if (state.epoch !== epoch) {
      if (state.retired.includes(epoch)) return Promise.resolve(false);
      state = this.switchTo(channel, state, epoch, offset);
    }
    if (state.delivered >= offset) return Promise.resolve(true);
    const waiting = state;
    waiting.target = Math.max(waiting.target, offset);
    return new Promise((done) => {
      waiting.waiters.push({ offset, done });
      this.fillSoon(channel, waiting, 0);
    });
  }

  close(): void {
    for (const state of this.channels.values()) this.forget(state);
    this.channels.clear();
  }

  private create(channel: string, epoch: string, delivered: number): ChannelState {
    const state: ChannelState = {
      epoch,
      delivered,
      target: delivered,
      pending: new Map(),
      timer: undefined,
      filling: false,
      retired: [],
      candidates: new Map(),
      waiters: [],
    };
    this.channels.set(channel, state);
    if (this.channels.size > MAX_SEQUENCED_CHANNELS) {
      const [oldest, old] = this.channels.entries().next().value as [string, ChannelState];
      this.channels.delete(oldest);
      this.forget(old);
    }
    return state;
  }

  private touch(channel: string, state: ChannelState): void {
    this.channels.delete(channel);
    this.channels.set(channel, state);
  }

  /** A publication of another epoch: held (bounded) until the engine says whether the channel is at that epoch now. */
  private hold(channel: string, state: ChannelState, publication: Publication): void {
    const epoch = publication.epoch as string;
    let held = state.candidates.get(epoch);
    if (held === undefined) {
      if (state.candidates.size >= RETIRED_EPOCHS) {
        this.stats.refused++;
        return;
      }
      held = [];
      state.candidates.set(epoch, held);
      void this.verify(channel, state, epoch, publication.offset as number);
    }
    if (held.length >= MAX_PENDING_PER_CHANNEL) this.stats.refused++;
    else held.push(publication);
  }

  private async verify(channel: string, state: ChannelState, epoch: string, offset: number): Promise<void> {
    let current: string | undefined;
    try {
      current = (await this.fill(channel, epoch, offset, offset - 1))?.epoch;
    } catch {
      // Not readable now: the held publications go; a later one of that epoch asks again.
    }
    if (this.channels.get(channel) !== state) return;
    const held = state.candidates.get(epoch) ?? [];
    if (current !== epoch) {
      state.candidates.delete(epoch);
      this.stats.refused += held.length;
      return;
    }
    let first = offset;
    for (const p of held) first = Math.min(first, p.offset as number);
    this.switchTo(channel, state, epoch, first - 1);
  }

  /** The engine says the channel is at `epoch` now: starts over there, with what was held of it. */
  private switchTo(channel: string, old: ChannelState, epoch: string, delivered: number): ChannelState {
    const held = old.candidates.get(epoch) ?? [];
    const state = this.restart(channel, old, epoch, delivered);
    for (const p of held.sort((a, b) => (a.offset as number) - (b.offset as number))) this.offer(p, true);
    return state;
  }

  /** The channel's stream was replaced (its epoch changed): what was pending of the old one goes. */
  private restart(channel: string, old: ChannelState, epoch: string, delivered: number): ChannelState {
    const retired = [old.epoch, ...old.retired.filter((e) => e !== epoch)].slice(0, RETIRED_EPOCHS);
    this.forget(old);
    const state = this.create(channel, epoch, delivered);
    state.retired.push(...retired);
    return state;
  }

  /** Stops a state's timer and lets its waiters go (as not caught up: the channel moved on). */
  private forget(state: ChannelState): void {
    clearTimeout(state.timer);
    state.timer = undefined;
    state.pending.clear();
    state.candidates.clear();
    const waiters = state.waiters;
    state.waiters = [];
    for (const w of waiters) w.done(false);
  }

  /** Delivers what follows `delivered` without a gap; wakes the subscribes waiting for it. */
  private drain(channel: string, state: ChannelState): void {
    for (let next = state.pending.get(state.delivered + 1); next !== undefined; ) {
      state.pending.delete(state.delivered + 1);
      state.delivered++;
      this.deliver(next);
      next = state.pending.get(state.delivered + 1);
    }
    if (state.waiters.length > 0) {
      const ready = state.waiters.filter((w) => w.offset <= state.delivered);
      state.waiters = state.waiters.filter((w) => w.offset > state.delivered);
      for (const w of ready) w.done(true);
    }
    if (state.pending.size === 0 && state.target <= state.delivered) {
      clearTimeout(state.timer);
      state.timer = undefined;
    } else this.fillSoon(channel, state, this.gapWaitMs);
  }

  private fillSoon(channel: string, state: ChannelState, ms: number): void {
    if (state.filling || (state.timer !== undefined && ms > 0)) return;
    clearTimeout(state.timer);
    state.timer = setTimeout(() => void this.fillGap(channel, state), ms);
  }

  /** Reads the missing offsets before the first pending one (or up to the target) from the engine. */
  private async fillGap(channel: string, state: ChannelState): Promise<void> {
    state.timer = undefined;
    const from = state.delivered + 1;
    let first = Number.POSITIVE_INFINITY;
    for (const offset of state.pending.keys()) first = Math.min(first, offset);
    const to = Number.isFinite(first) ? first - 1 : state.target;
    if (to < from) return this.drain(channel, state);
    state.filling = true;
    let read: FillResult | undefined;
    try {
      read = await this.fill(channel, state.epoch, from, to);
    } catch {
      // Not readable now: what is missing is skipped, as if it were not there.
    }
    state.filling = false;
    if (this.channels.get(channel) !== state) return;
    let end = to;
    if (read !== undefined && read.epoch === state.epoch) {
      for (const p of read.found) {
        const offset = p.offset as number;
        if (p.epoch === state.epoch && offset > state.delivered && offset <= to) state.pending.set(offset, p);
      }
      // Offsets past the stream's newest were never appended: forged (or lost by the server).
      for (const offset of [...state.pending.keys()]) {
        if (offset <= read.offset) continue;
        state.pending.delete(offset);
        this.stats.refused++;
      }
      end = Math.min(to, read.offset);
      if (state.target > read.offset) {
        // The stream went back (the server lost its tail): a subscribe waiting past it is not caught up.
        state.target = read.offset;
        const top = read.offset;
        for (const w of state.waiters.filter((w) => w.offset > top)) w.done(false);
        state.waiters = state.waiters.filter((w) => w.offset <= top);
      }
    }
    const ahead = [...state.pending.keys()].filter((o) => o <= end).sort((p, q) => p - q);
    for (const offset of ahead) {
      this.stats.skipped += offset - state.delivered - 1;
      const p = state.pending.get(offset) as Publication;
      state.pending.delete(offset);
      state.delivered = offset;
      this.deliver(p);
    }
    if (state.delivered < end) {
      this.stats.skipped += end - state.delivered;
      state.delivered = end;
    }
    this.drain(channel, state);
  }
}
