import { mkdirSync, statSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * `mkdir -p` one level at a time. Node's `mkdirSync(dir, { recursive: true })` never returns
 * for a path under a directory that refuses to hold one (`/proc/nope` spins: procfs answers
 * ENOENT for a parent that exists, and the recursive walk retries it forever), which left the
 * server hanging at start-up without a line. Here each missing level is made on its own, and the
 * first error other than "already there" is thrown as it is.
 */
export function makeDirectory(dir: string): void {
  const missing: string[] = [];
  for (let at = dir; !exists(at); at = dirname(at)) {
    missing.push(at);
    if (dirname(at) === at) break;
  }
  if (missing.length === 0 && !statSync(dir).isDirectory()) {
    throw Object.assign(new Error(`ENOTDIR: not a directory, mkdir '${dir}'`), { code: 'ENOTDIR' });
  }
  // From the level under the deepest one there (whatever it is: a file there fails with ENOTDIR).
  for (let i = missing.length - 1; i >= 0; i--) {
    try {
      mkdirSync(missing[i] as string);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
}

function exists(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch {
    return false;
  }
}
