import { existsSync, readFileSync, writeFileSync } from 'node:fs';

export const BEGIN = '<!-- bench:begin -->';
export const END = '<!-- bench:end -->';

/** Where a marker stands on a line of its own (prose may quote the markers). */
function markerLine(doc: string, marker: string, from = 0): number {
  const re = new RegExp(`^${marker}[ \\t]*$`, 'gm');
  re.lastIndex = from;
  return re.exec(doc)?.index ?? -1;
}

/**
 * Puts `generated` between the markers of the document, leaving everything else (the hand-written
 * analysis) as it is. A document without markers gets them appended.
 */
export function replaceGenerated(doc: string, generated: string): string {
  const block = `${BEGIN}\n${generated.trimEnd()}\n${END}`;
  const begin = markerLine(doc, BEGIN);
  const end = begin < 0 ? -1 : markerLine(doc, END, begin);
  if (begin < 0 || end < 0) return `${doc.trimEnd()}\n\n## Results\n\n${block}\n`;
  return doc.slice(0, begin) + block + doc.slice(end + END.length);
}

export function writeGenerated(path: string, generated: string): void {
  const doc = existsSync(path) ? readFileSync(path, 'utf8') : '# Benchmarks\n';
  writeFileSync(path, replaceGenerated(doc, generated));
}
