import { mkdirSync, rmdirSync, statSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * `mkdir -p` one level at a time. Node's `mkdirSync(dir, { recursive: true })` never returns
 * for a path under a directory that refuses to hold one (`/proc/nope` spins: procfs answers
 * ENOENT for a parent that exists, and the recursive walk retries it forever), which left the
 * server hanging at start-up without a line. Here the levels are taken from the top: each one
 * missing is made on its own, and the first error other than "already there" is thrown as it
 * is. From the top, so that a path longer than the system takes fails at its first level too
 * long (ENAMETOOLONG) after a few thousand bytes of levels, not after a look at every level
 * of it (a 120 KB path of short levels took 4 s that way, a longer one from a config file
 * minutes). What is there at the end must be a directory: a symbolic link to nothing there is
 * ENOENT, a loop of links ELOOP, a file ENOTDIR. On an error, the levels made here are removed.
 */
export function makeDirectory(dir: string): void {
  const levels: string[] = [];
  for (let at = dir; ; at = dirname(at)) {
    levels.push(at);
    if (dirname(at) === at) break;
  }
  const made: string[] = [];
  try {
    for (let i = levels.length - 1; i >= 0; i--) {
      const level = levels[i] as string;
      // Past the first level missing, every deeper one is missing too: no need to look.
      if (made.length === 0 && exists(level)) continue;
      try {
        mkdirSync(level);
        made.push(level);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
    }
    if (!statSync(dir).isDirectory()) {
      throw Object.assign(new Error(`ENOTDIR: not a directory, mkdir '${dir}'`), { code: 'ENOTDIR' });
    }
  } catch (err) {
    // A failed start leaves nothing behind (a path too long left thousands of levels made).
    for (const level of made.reverse()) {
      try {
        rmdirSync(level);
      } catch {
        break;
      }
    }
    throw err;
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
