/** Number formatting for the result tables. */

export const dash = '—';

export function count(n: number): string {
  return Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : dash;
}

/** Nanoseconds, with a decimal below 10 (a delivery costs a few ns). */
export function nsFine(ns: number): string {
  if (!Number.isFinite(ns)) return dash;
  return ns < 10 ? ns.toFixed(1) : count(ns);
}

export function ms(micros: number): string {
  if (!Number.isFinite(micros)) return dash;
  const v = micros / 1000;
  return `${v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0)} ms`;
}

export function mib(kib: number): string {
  return Number.isFinite(kib) ? `${(kib / 1024).toFixed(1)} MiB` : dash;
}

export function kib(v: number): string {
  return Number.isFinite(v) ? `${v.toFixed(2)} KiB` : dash;
}

export function cores(share: number): string {
  return Number.isFinite(share) ? `${Math.round(share * 100)} %` : dash;
}

export function ratio(a: number, b: number): string {
  if (!Number.isFinite(a) || !Number.isFinite(b) || b === 0) return dash;
  const r = a / b;
  return `${r < 10 ? r.toFixed(2) : r.toFixed(1)}×`;
}

export function percent(part: number, whole: number): string {
  if (whole === 0) return dash;
  const p = (part / whole) * 100;
  return p >= 99.995 ? '100 %' : `${p.toFixed(2)} %`;
}

/** A Markdown table; the first `left` columns are aligned left, the others (figures) right. */
export function table(head: string[], rows: string[][], left = 1): string {
  const line = (cells: string[]): string => `| ${cells.join(' | ')} |`;
  const rule = head.map((_, i) => (i < left ? '---' : '---:'));
  return [line(head), line(rule), ...rows.map(line)].join('\n');
}
