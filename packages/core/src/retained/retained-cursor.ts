import type { Publication } from '../outbound.js';
import type { RetainedEntry, TopicNode } from './topic-tree.js';

/** `RetainedCursor.next` used up its steps: call again later. */
export const PAUSED = Symbol('paused');

enum Mode {
  /** A node reached after `depth` filter levels. */
  Visit,
  /** A node under a `#`: it and everything below it match. */
  VisitSubtree,
  /** Going through a node's children for a `+` at `depth`. */
  EachChild,
  /** Going through a node's children under a `#`. */
  EachInSubtree,
}

interface Frame {
  mode: Mode;
  node: TopicNode;
  depth: number;
  children: Iterator<TopicNode> | undefined;
}

/**
 * The retained messages matching one filter, walked lazily over the topic tree with an explicit
 * stack (no recursion, whatever the depth of the filter or the topics). It visits only the
 * branches the filter can match, stops when its budget of visits is spent, and returns
 * only messages set before it began (`startSeq`): anything set since reached the subscriber
 * live, and must not arrive twice.
 */
export class RetainedCursor {
  private readonly levels: string[];
  private readonly stack: Frame[];

  constructor(
    root: TopicNode,
    filter: string,
    private readonly startSeq: number,
  ) {
    this.levels = filter.split('/');
    this.stack = [{ mode: Mode.Visit, node: root, depth: 0, children: undefined }];
  }

  get done(): boolean {
    return this.stack.length === 0;
  }

  /**
   * The next matching live message; undefined at the end. Each node visited takes one of
   * `budget.steps`; `PAUSED` when they are used up.
   */
  next(budget: { steps: number }, nowMs: number): Publication | typeof PAUSED | undefined {
    const stack = this.stack;
    for (let frame = stack[stack.length - 1]; frame !== undefined; frame = stack[stack.length - 1]) {
      if (budget.steps <= 0) return PAUSED;
      budget.steps--;
      if (frame.mode === Mode.EachChild || frame.mode === Mode.EachInSubtree) {
        const step = (frame.children as Iterator<TopicNode>).next();
        if (step.done) {
          stack.pop();
          continue;
        }
        const child = step.value;
        // Wildcards in the first level do not match topics starting with `$` (MQTT 5 §4.7.2).
        if (frame.depth === 0 && child.level.charCodeAt(0) === 0x24) continue;
        const subtree = frame.mode === Mode.EachInSubtree;
        stack.push({
          mode: subtree ? Mode.VisitSubtree : Mode.Visit,
          node: child,
          depth: frame.depth + 1,
          children: undefined,
        });
        continue;
      }
      stack.pop();
      const found = this.visit(frame);
      if (found !== undefined && this.live(found, nowMs)) return found.publication;
    }
    return undefined;
  }

  /** Expands a visited node; returns its entry when the filter matches its topic. */
  private visit(frame: Frame): RetainedEntry | undefined {
    const { node, depth } = frame;
    if (frame.mode === Mode.VisitSubtree) {
      this.eachChild(node, depth, Mode.EachInSubtree);
      return node.entry;
    }
    const level = this.levels[depth];
    if (level === undefined) return node.entry; // past the filter's last level: it matched
    if (level === '#') {
      this.eachChild(node, depth, Mode.EachInSubtree);
      // `a/#` matches `a` itself (MQTT 5 §4.7.1.2).
      return depth > 0 ? node.entry : undefined;
    }
    if (level === '+') {
      this.eachChild(node, depth, Mode.EachChild);
      return undefined;
    }
    const child = node.children?.get(level);
    if (child !== undefined)
      this.stack.push({ mode: Mode.Visit, node: child, depth: depth + 1, children: undefined });
    return undefined;
  }

  private eachChild(node: TopicNode, depth: number, mode: Mode): void {
    if (node.children === undefined || node.children.size === 0) return;
    this.stack.push({ mode, node, depth, children: node.children.values() });
  }

  private live(entry: RetainedEntry, nowMs: number): boolean {
    if (entry.seq > this.startSeq) return false;
    const expiresAt = entry.publication.expiresAt;
    return expiresAt === undefined || expiresAt > nowMs;
  }
}
