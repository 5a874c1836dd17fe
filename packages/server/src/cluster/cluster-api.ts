import type { Broker } from '@pulse/core';
import type { ClientMatch } from '../transport/connection.js';
import {
  API_TYPES,
  type ApiMessage,
  LISTING_PART_BYTES,
  LISTING_PART_ENTRIES,
  type ListingEntry,
  type WireMatch,
  checkApiMessage,
} from './api-messages.js';
import type { ControlFeature, UncheckedControl } from './control-bus.js';

/** How long a question waits for the other nodes' answers; a node that has not answered by then is left out. */
export const CLUSTER_API_TIMEOUT_MS = 1000;
/** Questions of this node waiting for answers at most; past it the HTTP API answers 503. */
export const MAX_PENDING_QUESTIONS = 64;
/** Distinct channels plus wildcard filters in one cluster-wide listing; past it, `truncated`. */
export const MAX_LISTING_ENTRIES = 100_000;
/** Bytes of names one node sends in its answer; past it, `truncated`. */
export const MAX_ANSWER_BYTES = 4 * 1024 * 1024;
/** Questions from other nodes answered per second at most (a hostile writer on the engine server). */
export const MAX_ANSWERS_PER_SECOND = 50;

export interface ClusterApiHost {
  /** True while the engine is connected. */
  connected(): boolean;
  /** The other live nodes (presence's liveness). */
  peers(): Iterable<string>;
  send(message: ApiMessage, to?: string): void;
}

/** A listing for the whole cluster: subscriber counts summed over the nodes that answered. */
export interface ClusterListing {
  readonly channels: Map<string, number>;
  readonly wildcards: Map<string, number>;
  /** Nodes counted, this one included. */
  nodes: number;
  /** Live nodes that did not answer within CLUSTER_API_TIMEOUT_MS. */
  unanswered: number;
  truncated: boolean;
}

export interface ClusterDisconnect {
  disconnected: number;
  nodes: number;
  unanswered: number;
}

interface Question {
  readonly waiting: Set<string>;
  /** A part (or the last part) from `origin`; true when that node is done. */
  readonly answer: (origin: string, message: ApiMessage) => boolean;
  readonly done: () => void;
  readonly timer: NodeJS.Timeout;
}

/**
 * `GET /api/channels` and `POST /api/disconnect` for the whole cluster (docs/CLUSTER.md, "HTTP
 * API across nodes"): the answering node asks every other node on the control bus, each answers
 * it alone, and it waits for the live nodes (presence's liveness) for CLUSTER_API_TIMEOUT_MS at
 * most. A node that died and has not expired yet, or is slow, makes the answer wait that long
 * and is left out of it (`unanswered`).
 */
export class ClusterApi implements ControlFeature {
  readonly types = API_TYPES;
  private readonly questions = new Map<number, Question>();
  private nextQuestion = 0;
  private answersThisSecond = 0;
  private second = 0;
  /** Questions from other nodes not answered for MAX_ANSWERS_PER_SECOND. */
  refused = 0;

  constructor(
    private readonly host: ClusterApiHost,
    private readonly broker: Broker,
    private readonly disconnectLocal: (match: ClientMatch, reason: string) => number,
  ) {}

  /** Too many questions waiting: the HTTP API says 503. */
  get busy(): boolean {
    return this.questions.size >= MAX_PENDING_QUESTIONS;
  }

  /** The channels and filters with subscribers on any node, starting with `prefix`. */
  listChannels(prefix: string): Promise<ClusterListing> {
    const listing = this.broker.channelListing();
    const result: ClusterListing = {
      channels: new Map(),
      wildcards: new Map(),
      nodes: 1,
      unanswered: 0,
      truncated: false,
    };
    let entries = 0;
    const add = (into: Map<string, number>, [name, count]: ListingEntry) => {
      const known = into.get(name);
      if (known !== undefined) into.set(name, known + count);
      else if (entries >= MAX_LISTING_ENTRIES) result.truncated = true;
      else {
        into.set(name, count);
        entries++;
      }
    };
    for (const entry of listing.channels) if (entry[0].startsWith(prefix)) add(result.channels, entry);
    for (const entry of listing.wildcards) if (entry[0].startsWith(prefix)) add(result.wildcards, entry);
    return this.ask({ y: 'cq', r: 0, p: prefix }, result, (message) => {
      if (message.y !== 'cr') return false;
      for (const entry of message.c) add(result.channels, entry);
      for (const entry of message.w) add(result.wildcards, entry);
      if (message.t === true) result.truncated = true;
      return message.f;
    });
  }

  /** Disconnects the clients `match` names on every node; how many, on the nodes that answered. */
  disconnect(match: ClientMatch, reason: string): Promise<ClusterDisconnect> {
    const result: ClusterDisconnect = {
      disconnected: this.disconnectLocal(match, reason),
      nodes: 1,
      unanswered: 0,
    };
    const m: WireMatch = { i: match.connectionId, c: match.clientId, u: match.user };
    return this.ask({ y: 'dq', r: 0, m }, result, (message) => {
      if (message.y !== 'dr') return false;
      result.disconnected += message.n;
      return true;
    });
  }

  /** Asks every live node; resolves with `result` once all answered or the time is up. */
  private ask<T extends { nodes: number; unanswered: number }>(
    question: ApiMessage,
    result: T,
    answer: (message: ApiMessage) => boolean,
  ): Promise<T> {
    const waiting = new Set(this.host.peers());
    if (waiting.size === 0) return Promise.resolve(result);
    if (!this.host.connected()) {
      result.unanswered = waiting.size;
      return Promise.resolve(result);
    }
    const r = ++this.nextQuestion;
    return new Promise<T>((resolve) => {
      const done = () => {
        clearTimeout(entry.timer);
        this.questions.delete(r);
        result.unanswered = entry.waiting.size;
        resolve(result);
      };
      const entry: Question = {
        waiting,
        answer: (_origin, message) => {
          if (!answer(message)) return false;
          result.nodes++;
          return true;
        },
        done,
        timer: setTimeout(done, CLUSTER_API_TIMEOUT_MS),
      };
      this.questions.set(r, entry);
      this.host.send({ ...question, r } as ApiMessage);
    });
  }

  receive(origin: string, unchecked: UncheckedControl): string | undefined {
    const message = checkApiMessage(unchecked);
    if (typeof message === 'string') return message;
    switch (message.y) {
      case 'cq':
        if (this.overAnswering()) return undefined;
        this.sendListing(origin, message.r, message.p);
        return undefined;
      case 'dq': {
        if (this.overAnswering()) return undefined;
        const { i, c, u } = message.m;
        const match: ClientMatch =
          typeof i === 'string'
            ? { connectionId: i }
            : typeof c === 'string'
              ? { clientId: c }
              : { user: u as string };
        const n = this.disconnectLocal(match, 'disconnected by the server API');
        this.host.send({ y: 'dr', r: message.r, n }, origin);
        return undefined;
      }
      case 'cr':
      case 'dr': {
        const question = this.questions.get(message.r);
        // Late (the time was up), or from a node that was not asked (joined since): ignored.
        if (question === undefined || !question.waiting.has(origin)) return undefined;
        if (question.answer(origin, message)) {
          question.waiting.delete(origin);
          if (question.waiting.size === 0) question.done();
        }
        return undefined;
      }
    }
  }

  private overAnswering(): boolean {
    const second = Math.floor(Date.now() / 1000);
    if (second !== this.second) {
      this.second = second;
      this.answersThisSecond = 0;
    }
    if (++this.answersThisSecond <= MAX_ANSWERS_PER_SECOND) return false;
    this.refused++;
    return true;
  }

  /** This node's part of a listing, in parts, addressed to `to`. */
  private sendListing(to: string, r: number, prefix: string): void {
    const listing = this.broker.channelListing();
    let c: ListingEntry[] = [];
    let w: ListingEntry[] = [];
    let partBytes = 0;
    let total = 0;
    let truncated = false;
    const flush = (final: boolean) => {
      this.host.send({ y: 'cr', r, f: final, t: final && truncated ? true : undefined, c, w }, to);
      c = [];
      w = [];
      partBytes = 0;
    };
    const put = (into: 'c' | 'w', entry: ListingEntry) => {
      if (total + entry[0].length > MAX_ANSWER_BYTES) {
        truncated = true;
        return;
      }
      if (
        c.length + w.length >= LISTING_PART_ENTRIES ||
        (partBytes > 0 && partBytes + entry[0].length > LISTING_PART_BYTES)
      ) {
        flush(false);
      }
      (into === 'c' ? c : w).push([entry[0], entry[1]]);
      partBytes += entry[0].length;
      total += entry[0].length;
    };
    for (const entry of listing.channels) if (entry[0].startsWith(prefix)) put('c', entry);
    for (const entry of listing.wildcards) if (entry[0].startsWith(prefix)) put('w', entry);
    flush(true);
  }

  close(): void {
    for (const question of [...this.questions.values()]) question.done();
  }
}
