import type { Publication } from '../outbound.js';

/** A retained message as the tree keeps it. */
export interface RetainedEntry {
  publication: Publication;
  /** The store's write counter when it was set: a replay sends only what existed when it began. */
  seq: number;
  /** What it counts towards `maxBytes` (heldBytes). */
  bytes: number;
}

/** One topic level; `entry` is the retained message of the topic that ends here. */
export class TopicNode {
  children: Map<string, TopicNode> | undefined = undefined;
  entry: RetainedEntry | undefined = undefined;

  constructor(
    readonly parent: TopicNode | undefined,
    readonly level: string,
  ) {}
}

/**
 * Retained messages indexed by topic level, so that a filter walks only the branches that can
 * match it. Walks are loops over the levels of a topic: no recursion whatever its depth.
 */
export class TopicTree {
  readonly root = new TopicNode(undefined, '');

  /** The node of `topic`, created with its missing ancestors. */
  nodeFor(topic: string): TopicNode {
    let node = this.root;
    let start = 0;
    for (;;) {
      const slash = topic.indexOf('/', start);
      const level = slash === -1 ? topic.slice(start) : topic.slice(start, slash);
      node.children ??= new Map();
      let child = node.children.get(level);
      if (child === undefined) {
        child = new TopicNode(node, level);
        node.children.set(level, child);
      }
      node = child;
      if (slash === -1) return node;
      start = slash + 1;
    }
  }

  /** Clears a node's entry and removes the branch above it that holds nothing any more. */
  clear(node: TopicNode): void {
    node.entry = undefined;
    let current: TopicNode | undefined = node;
    while (current?.parent && current.entry === undefined && !current.children?.size) {
      current.parent.children?.delete(current.level);
      current = current.parent;
    }
  }
}
