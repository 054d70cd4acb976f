import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3";
import { VeilError } from "../errors/index.ts";

/** What a SQLite file holds and what its owner should do if it is damaged, in the user's words. */
export type SqliteFileRole = {
  /** "the state store", "the fee ledger", … */
  what: string;
  /** What removing the file costs, for the hint (e.g. "agents on this worker lose their state"). */
  ifRemoved: string;
};

/**
 * Opens a store's SQLite file (WAL, busy timeout, `setup` run once for the schema). A file that
 * is not a database or is cut short fails here with `STORE_CORRUPT` naming the file, rather than
 * with SQLite's bare "database disk image is malformed" on some later request, and never
 * with a silent fresh store.
 */
export function openSqliteFile(
  path: string,
  role: SqliteFileRole,
  setup: (db: Database.Database) => void,
): Database.Database {
  if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
  let db: Database.Database | undefined;
  try {
    db = new Database(path);
    db.pragma("journal_mode = WAL");
    db.pragma("busy_timeout = 5000");
    setup(db);
    return db;
  } catch (err) {
    db?.close();
    const code = (err as { code?: string }).code;
    if (code === "SQLITE_CORRUPT" || code === "SQLITE_NOTADB") throw storeCorrupt(path, role, err as Error);
    throw err;
  }
}

export function storeCorrupt(path: string, role: SqliteFileRole, cause: Error): VeilError {
  return new VeilError("STORE_CORRUPT", `${capitalize(role.what)} ${path} is damaged: ${cause.message}`, {
    hint: `Restore the file (with its -wal file, if any) from a copy. Removing it starts ${role.what} empty: ${role.ifRemoved}.`,
    cause,
  });
}

const capitalize = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);
