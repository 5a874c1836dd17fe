import { accessSync, constants, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import type { CommitPolicy } from '@pulse/core';
import type Database from 'better-sqlite3';
import { makeDirectory } from './make-directory.js';
import { PULSE_APPLICATION_ID, SCHEMA, SCHEMA_VERSION } from './sqlite-schema.js';

/** A store file that cannot be used; the message is one line naming the path and the cause. */
export class StoreOpenError extends Error {
  override readonly name = 'StoreOpenError';
  constructor(
    readonly path: string,
    reason: string,
    options?: { cause?: unknown },
  ) {
    super(`storage: cannot open ${shownPath(path)}: ${reason.replace(/\s+/g, ' ').trim()}`, options);
  }
}

/** Characters of a path a message shows whole; a longer one (ENAMETOOLONG) is cut in the middle. */
const MAX_SHOWN_PATH = 240;

/** A path quoted for a message, a very long one cut so that the line stays one to read. */
function shownPath(path: string): string {
  if (path.length <= MAX_SHOWN_PATH) return JSON.stringify(path);
  return `${JSON.stringify(`${path.slice(0, 160)}…${path.slice(-60)}`)} (${path.length} characters)`;
}

const require = createRequire(import.meta.url);

/**
 * better-sqlite3, required when a store file is first opened: with storage.engine = "memory"
 * (the default) the driver and its native addon are never loaded (docs/ARCHITECTURE.md, "What a
 * server loads"). A CommonJS package, so it loads synchronously, as the store opens.
 */
function sqliteDriver(): typeof Database {
  return require('better-sqlite3') as typeof Database;
}

/** Thrown inside `openDatabase` for a cause already worded for the reader. */
class Refusal extends Error {}

/** `synchronous` for each policy: FULL fsyncs the WAL on every commit, NORMAL at checkpoints. */
const SYNCHRONOUS: Record<CommitPolicy, number> = { strict: 2, balanced: 1, fast: 1 };

/**
 * Opens (or creates) a Pulse store file, WAL mode, holding an exclusive lock for as long as it
 * is open, after checking it is a sound Pulse store: never starts empty over a damaged or
 * foreign file.
 */
export function openDatabase(path: string, policy: CommitPolicy): Database.Database {
  const dir = dirname(path);
  try {
    makeDirectory(dir);
  } catch (err) {
    const cause = codeOf(err) || (err instanceof Error ? err.message : String(err));
    throw new StoreOpenError(path, `cannot create directory ${shownPath(dir)} (${cause})`, {
      cause: err,
    });
  }
  try {
    accessSync(dir, constants.W_OK);
  } catch (err) {
    throw new StoreOpenError(path, `directory is not writable (${codeOf(err)})`, { cause: err });
  }
  if (isDirectory(path)) throw new StoreOpenError(path, 'is a directory');

  let db: Database.Database | undefined;
  try {
    const Driver = sqliteDriver();
    db = new Driver(path);
    // Before the first access: the lock is taken by the first read and never released.
    db.pragma('locking_mode = EXCLUSIVE');
    db.pragma('busy_timeout = 50');
    checkOwner(db);
    checkIntegrity(db);
    const mode = db.pragma('journal_mode = WAL', { simple: true });
    if (mode !== 'wal') throw new Refusal(`cannot switch to WAL mode (journal_mode is ${String(mode)})`);
    db.pragma(`synchronous = ${SYNCHRONOUS[policy]}`);
    db.pragma('journal_size_limit = 67108864');
    db.transaction(() => {
      db!.exec(SCHEMA);
      db!.pragma(`application_id = ${PULSE_APPLICATION_ID}`);
      db!.pragma(`user_version = ${SCHEMA_VERSION}`);
      // A write, so the exclusive lock is held from now on, not from the first commit.
      db!.prepare("INSERT OR REPLACE INTO pulse_meta (key, value) VALUES ('opened_at', ?)").run(Date.now());
    })();
    return db;
  } catch (err) {
    try {
      db?.close();
    } catch {
      // The open failed; closing is best effort.
    }
    if (err instanceof StoreOpenError) throw err;
    throw new StoreOpenError(path, reasonOf(err, dir), { cause: err });
  }
}

/** Refuses a SQLite database of another application or of a newer Pulse. */
function checkOwner(db: Database.Database): void {
  const applicationId = db.pragma('application_id', { simple: true }) as number;
  if (applicationId !== PULSE_APPLICATION_ID) {
    const tables = db
      .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name LIMIT 4")
      .pluck()
      .all() as string[];
    if (applicationId !== 0 || tables.length > 0) {
      const hex = `0x${(applicationId >>> 0).toString(16)}`;
      const list = tables.length > 3 ? `${tables.slice(0, 3).join(', ')}, ...` : tables.join(', ');
      throw new Refusal(
        `belongs to another application (application_id ${hex}${list ? `, tables: ${list}` : ''})`,
      );
    }
    return;
  }
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > SCHEMA_VERSION) {
    throw new Refusal(
      `written by a newer Pulse (schema version ${version}; this build reads ${SCHEMA_VERSION})`,
    );
  }
}

function checkIntegrity(db: Database.Database): void {
  const rows = db.pragma('quick_check(5)', { simple: false }) as Record<string, string>[];
  const messages = rows.map((row) => String(Object.values(row)[0]));
  if (messages.length !== 1 || messages[0] !== 'ok') {
    throw new Refusal(`database is corrupt (quick_check: ${messages.join('; ')})`);
  }
}

function reasonOf(err: unknown, dir: string): string {
  if (err instanceof Refusal) return err.message;
  const code = codeOf(err);
  const message = err instanceof Error ? err.message : String(err);
  if (code === 'SQLITE_BUSY' || code.startsWith('SQLITE_LOCKED')) {
    return 'database is locked by another process';
  }
  if (code === 'SQLITE_NOTADB') return 'not a SQLite database (file is damaged or not a Pulse store)';
  if (code.startsWith('SQLITE_CORRUPT')) return `database is corrupt (${message})`;
  if (code.startsWith('SQLITE_READONLY')) return `file or directory is not writable (${message})`;
  if (code.startsWith('SQLITE_CANTOPEN')) {
    try {
      accessSync(dir, constants.W_OK);
    } catch (e) {
      return `directory is not writable (${codeOf(e)})`;
    }
    return `cannot open the file (${message})`;
  }
  if (code === 'SQLITE_FULL') return 'disk is full';
  if (code.startsWith('SQLITE_IOERR')) return `I/O error (${code}: ${message})`;
  return code ? `${message} (${code})` : message;
}

function codeOf(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : '';
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}
