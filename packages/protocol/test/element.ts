import assert from 'node:assert/strict';

/** `list[index]`, which the test knows is there: a missing one fails the test, not a later read. */
export function at<T>(list: ArrayLike<T>, index: number): T {
  const value = list[index];
  assert.ok(value !== undefined, `no element ${index} in a list of ${list.length}`);
  return value;
}
