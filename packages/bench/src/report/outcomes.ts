import type { TargetName } from '../dialects/index.js';
import type { BenchResults, Outcome, TargetResults } from '../results.js';
import { TARGET_LABELS } from '../targets/launch.js';

/** The outcomes of scenario `key` for the targets `names`, in that order. */
export function outcomesOf<N extends TargetName, T>(
  r: BenchResults,
  names: readonly N[],
  key: keyof TargetResults,
): [N, Outcome<T>][] {
  const out: [N, Outcome<T>][] = [];
  for (const name of names) {
    const outcome = r.targets[name]?.[key];
    if (outcome) out.push([name, outcome as unknown as Outcome<T>]);
  }
  return out;
}

/** One number from a target's successful result, or undefined. */
export function resultValue<T>(
  r: BenchResults,
  name: TargetName,
  key: keyof TargetResults,
  pick: (v: T) => number | undefined,
): number | undefined {
  const outcome = r.targets[name]?.[key] as unknown as Outcome<T> | undefined;
  return outcome?.ok ? pick(outcome.value) : undefined;
}

/** A table row for a target whose run failed: its label, the error, and empty cells. */
export function failedRow(
  name: TargetName,
  error: string,
  width: number,
  label = TARGET_LABELS[name],
): string[] {
  return [
    label,
    `not measured: ${error.replaceAll('|', '\\|').replaceAll('\n', ' ')}`,
    ...Array(width - 2).fill(''),
  ];
}
