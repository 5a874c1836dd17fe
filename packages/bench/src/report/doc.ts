import { existsSync, readFileSync, writeFileSync } from 'node:fs';

export const BEGIN = '<!-- bench:begin -->';
export const END = '<!-- bench:end -->';

/** A generated block of the document: what lies between its markers is the run's. */
export interface Block {
  begin: string;
  end: string;
  /** Heading of the section appended to a document without the markers. */
  heading: string;
}

/** Every scenario's tables but d1's and the cluster scenarios'. */
export const MAIN_BLOCK: Block = { begin: BEGIN, end: END, heading: 'Results' };
/** d1's tables, apart, so that a d1 run leaves the others alone (and the other way round). */
export const DURABLE_BLOCK: Block = {
  begin: '<!-- bench:d1:begin -->',
  end: '<!-- bench:d1:end -->',
  heading: 'Results: durable storage (d1)',
};

/** The cluster scenarios' tables (x1, x2). */
export const CLUSTER_BLOCK: Block = {
  begin: '<!-- bench:cluster:begin -->',
  end: '<!-- bench:cluster:end -->',
  heading: 'Results: cluster (x1, x2)',
};

/** Where a marker stands on a line of its own (prose may quote the markers). */
function markerLine(doc: string, marker: string, from = 0): number {
  const re = new RegExp(`^${marker}[ \\t]*$`, 'gm');
  re.lastIndex = from;
  return re.exec(doc)?.index ?? -1;
}

/**
 * Puts `generated` between the markers of `block` in the document, leaving everything else (the
 * hand-written analysis, other blocks) as it is. A document without the markers gets them appended.
 */
export function replaceGenerated(doc: string, generated: string, block = MAIN_BLOCK): string {
  const text = `${block.begin}\n${generated.trimEnd()}\n${block.end}`;
  const begin = markerLine(doc, block.begin);
  const end = begin < 0 ? -1 : markerLine(doc, block.end, begin);
  if (begin < 0 || end < 0) return `${doc.trimEnd()}\n\n## ${block.heading}\n\n${text}\n`;
  return doc.slice(0, begin) + text + doc.slice(end + block.end.length);
}

export function writeGenerated(path: string, generated: string, block = MAIN_BLOCK): void {
  const doc = existsSync(path) ? readFileSync(path, 'utf8') : '# Benchmarks\n';
  writeFileSync(path, replaceGenerated(doc, generated, block));
}

/** The lock-step section's tables (l1, l2, l3). */
export const LOCKSTEP_BLOCK: Block = {
  begin: '<!-- bench:lockstep:begin -->',
  end: '<!-- bench:lockstep:end -->',
  heading: 'Results: messages that travel alone (l1, l2, l3)',
};
