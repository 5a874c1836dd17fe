/** Bytes one history reply holds at most, in every protocol (native and JSON also cap it by limits.max_outbound_bytes). */
export const MAX_HISTORY_REPLY_BYTES = 8 * 1024 * 1024;

/** The history budget of a reply on a connection with `maxOutboundBytes` of outbound budget. */
export const historyReplyBudget = (maxOutboundBytes: number): number =>
  Math.min(maxOutboundBytes, MAX_HISTORY_REPLY_BYTES);

/**
 * The entries of a history page, encoded by `encode`, that fit `budget` bytes, always at least
 * one: the oldest that fit when paging forward from a position (`forward`), else the newest;
 * returned oldest first. `sizeOf` measures an entry; `separator` is what each kept entry adds
 * besides (a comma in a JSON array).
 */
export function entriesWithin<T, E>(
  list: readonly T[],
  forward: boolean,
  budget: number,
  encode: (item: T) => E,
  sizeOf: (entry: E) => number,
  separator = 0,
): E[] {
  const entries: E[] = [];
  let bytes = 0;
  for (let n = 0; n < list.length; n++) {
    const entry = encode(list[forward ? n : list.length - 1 - n]);
    const size = sizeOf(entry);
    if (n > 0 && bytes + size > budget) break;
    bytes += size + separator;
    entries.push(entry);
  }
  if (!forward) entries.reverse();
  return entries;
}
