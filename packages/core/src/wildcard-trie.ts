import { LEVEL_SEPARATOR, isSystemChannel } from './channel.js';
import type { Subscriber } from './subscriber.js';

class TrieNode {
  children: Map<string, TrieNode> | undefined;
  plus: TrieNode | undefined;
  /** Subscribers whose filter ends here. */
  exact: Set<Subscriber> | undefined;
  /** Subscribers whose filter ends here with `#`. */
  hash: Set<Subscriber> | undefined;

  isEmpty(): boolean {
    return !this.children?.size && !this.plus && !this.exact?.size && !this.hash?.size;
  }
}

/** Wildcard filters (`+`, `#`) by level, as in MQTT (and nats-server's sublist). */
export class WildcardTrie {
  private readonly root = new TrieNode();
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** Returns whether the subscriber was new for this filter. */
  add(filter: string, subscriber: Subscriber): boolean {
    let node = this.root;
    const levels = filter.split(LEVEL_SEPARATOR);
    for (const level of levels) {
      if (level === '#') {
        node.hash ??= new Set();
        if (node.hash.has(subscriber)) return false;
        node.hash.add(subscriber);
        this.count++;
        return true;
      }
      if (level === '+') {
        node.plus ??= new TrieNode();
        node = node.plus;
      } else {
        node.children ??= new Map();
        let child = node.children.get(level);
        if (!child) {
          child = new TrieNode();
          node.children.set(level, child);
        }
        node = child;
      }
    }
    node.exact ??= new Set();
    if (node.exact.has(subscriber)) return false;
    node.exact.add(subscriber);
    this.count++;
    return true;
  }

  /** Returns whether the subscriber held this filter. */
  remove(filter: string, subscriber: Subscriber): boolean {
    const levels = filter.split(LEVEL_SEPARATOR);
    const path: TrieNode[] = [this.root];
    let node: TrieNode | undefined = this.root;
    for (const level of levels) {
      if (level === '#') break;
      node = level === '+' ? node.plus : node.children?.get(level);
      if (!node) return false;
      path.push(node);
    }
    const set = levels[levels.length - 1] === '#' ? node.hash : node.exact;
    if (!set?.delete(subscriber)) return false;
    this.count--;
    // Prune empty nodes bottom-up so that churn does not leave garbage behind.
    for (let i = path.length - 1; i > 0; i--) {
      // Safe: 0 < i < path.length
      const child = path[i]!;
      if (!child.isEmpty()) break;
      // Safe: 0 < i < path.length
      const parent = path[i - 1]!;
      // Safe: path[i] was reached by levels[i - 1]
      const level = levels[i - 1]!;
      if (level === '+') parent.plus = undefined;
      else parent.children?.delete(level);
    }
    return true;
  }

  /** Calls `visit` for every subscriber with a filter matching `channel` (a subscriber may repeat). */
  match(channel: string, visit: (subscriber: Subscriber) => void): void {
    const levels = channel.split(LEVEL_SEPARATOR);
    // MQTT 4.7.2: wildcards in the first level do not match topics starting with `$`.
    const system = isSystemChannel(channel);
    // An explicit stack, not recursion: a client's filter of thousands of levels must not
    // overflow the call stack. Each level pushes at most two nodes, so it holds < 2 × levels.
    const nodes: TrieNode[] = [this.root];
    const depths: number[] = [0];
    while (nodes.length > 0) {
      const node = nodes.pop() as TrieNode;
      const depth = depths.pop() as number;
      const atRootOfSystem = system && depth === 0;
      if (node.hash && !atRootOfSystem) for (const s of node.hash) visit(s);
      const level = levels[depth];
      if (level === undefined) {
        // Past the channel's last level: the filters that end here match.
        if (node.exact) for (const s of node.exact) visit(s);
        continue;
      }
      // Pushed in reverse so that the exact child is walked before `+`, as a recursion would.
      if (node.plus && !atRootOfSystem) {
        nodes.push(node.plus);
        depths.push(depth + 1);
      }
      const child = node.children?.get(level);
      if (child) {
        nodes.push(child);
        depths.push(depth + 1);
      }
    }
  }
}
