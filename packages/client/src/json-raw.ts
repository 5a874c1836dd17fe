/**
 * The raw text of members of a JSON message, for payloads: the server embeds a payload's JSON
 * text unchanged (docs/PROTOCOL.md, "Payloads across protocols"), and only that text gives back
 * its exact bytes (JSON.parse and JSON.stringify lose whitespace, number spelling and big
 * integers). Run only on text JSON.parse accepted, so it never has to judge validity; it
 * recurses into nothing, whatever the nesting.
 */

const isSpace = (c: number) => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;

function skipSpace(text: string, i: number): number {
  while (i < text.length && isSpace(text.charCodeAt(i))) i++;
  return i;
}

/** Index just past the string whose opening quote is at `i`. */
function skipString(text: string, i: number): number {
  for (i++; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x5c) i++;
    else if (c === 0x22) return i + 1;
  }
  return i;
}

/** Index just past the value starting at `i` (no leading whitespace). */
function skipValue(text: string, i: number): number {
  const first = text.charCodeAt(i);
  if (first === 0x22) return skipString(text, i);
  if (first !== 0x7b && first !== 0x5b) {
    while (i < text.length) {
      const c = text.charCodeAt(i);
      if (isSpace(c) || c === 0x2c || c === 0x5d || c === 0x7d) break;
      i++;
    }
    return i;
  }
  let depth = 0;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      i = skipString(text, i);
      continue;
    }
    if (c === 0x7b || c === 0x5b) depth++;
    else if ((c === 0x7d || c === 0x5d) && --depth === 0) return i + 1;
    i++;
  }
  return i;
}

/** `[start, end)` of a value: from just after its `:` (or `[`/`,`) to its delimiter, whitespace included. */
export type Span = readonly [number, number];

/** The spans of the object's members by key (a repeated key: the last, as JSON.parse). */
export function memberSpans(text: string, span: Span): Map<string, Span> {
  const out = new Map<string, Span>();
  let i = skipSpace(text, span[0]);
  if (text.charCodeAt(i) !== 0x7b) return out;
  i = skipSpace(text, i + 1);
  while (text.charCodeAt(i) === 0x22) {
    const keyEnd = skipString(text, i);
    const key = JSON.parse(text.slice(i, keyEnd)) as string;
    const start = skipSpace(text, keyEnd) + 1;
    const end = skipSpace(text, skipValue(text, skipSpace(text, start)));
    out.set(key, [start, end]);
    if (text.charCodeAt(end) !== 0x2c) break;
    i = skipSpace(text, end + 1);
  }
  return out;
}

/** The spans of the array's elements. */
export function elementSpans(text: string, span: Span): Span[] {
  const out: Span[] = [];
  let i = skipSpace(text, span[0]);
  if (text.charCodeAt(i) !== 0x5b) return out;
  i = skipSpace(text, i + 1);
  if (text.charCodeAt(i) === 0x5d) return out;
  for (;;) {
    const end = skipSpace(text, skipValue(text, i));
    out.push([i, end]);
    if (text.charCodeAt(end) !== 0x2c) return out;
    i = skipSpace(text, end + 1);
  }
}

/** The span reached by following `keys` from the whole text, or undefined. */
export function spanAt(text: string, keys: readonly string[]): Span | undefined {
  let span: Span | undefined = [0, text.length];
  for (const key of keys) {
    span = memberSpans(text, span).get(key);
    if (span === undefined) return undefined;
  }
  return span;
}
