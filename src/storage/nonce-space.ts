import type Database from "better-sqlite3";
import { openSqliteFile } from "./sqlite-file.ts";

/**
 * Where the workers serving an agent remember which request nonces they have answered, so that
 * a request seen by one worker cannot run again on another (docs/adr/0020). `claim` is true the
 * first time a (scope, nonce) is claimed before it expires, false ever after.
 */
export interface NonceSpace {
  claim(scope: string, nonce: string, expiresAtMs: number, nowMs: number): boolean;
}

/** One process's memory: enough for one worker alone (and for tests). */
export class MemoryNonceSpace implements NonceSpace {
  readonly #seen = new Map<string, number>();
  #claims = 0;

  claim(scope: string, nonce: string, expiresAtMs: number, nowMs: number): boolean {
    if (++this.#claims % 1024 === 0) {
      for (const [k, expires] of this.#seen) if (expires <= nowMs) this.#seen.delete(k);
    }
    const key = `${scope}\n${nonce}`;
    const expires = this.#seen.get(key);
    if (expires !== undefined && expires > nowMs) return false;
    this.#seen.set(key, expiresAtMs);
    return true;
  }
}

/**
 * Nonces in the SQLite file the workers of one machine share for agents' state, so a replay on
 * another worker, or on this one after a restart, is refused. A row is kept until its request's
 * time window has passed (after that the request is refused as stale anyway), then pruned.
 */
export class SqliteNonceSpace implements NonceSpace {
  readonly #db: Database.Database;
  readonly #insert: Database.Statement<[string, string, number]>;
  readonly #takeOver: Database.Statement<[number, string, string, number]>;
  readonly #prune: Database.Statement<[number]>;
  #claims = 0;

  constructor(path: string) {
    this.#db = openSqliteFile(
      path,
      { what: "the state store", ifRemoved: "every agent served from it loses its ctx.state" },
      (db) =>
        db.exec(`CREATE TABLE IF NOT EXISTS used_nonces (
      scope TEXT NOT NULL,
      nonce TEXT NOT NULL,
      expires INTEGER NOT NULL,
      PRIMARY KEY (scope, nonce)
    ) WITHOUT ROWID`),
    );
    this.#insert = this.#db.prepare(
      "INSERT INTO used_nonces (scope, nonce, expires) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
    );
    // An expired row not yet pruned is taken over (the request it stood for is stale by now).
    this.#takeOver = this.#db.prepare(
      "UPDATE used_nonces SET expires = ? WHERE scope = ? AND nonce = ? AND expires <= ?",
    );
    this.#prune = this.#db.prepare("DELETE FROM used_nonces WHERE expires <= ?");
  }

  claim(scope: string, nonce: string, expiresAtMs: number, nowMs: number): boolean {
    if (++this.#claims % 1024 === 0) this.#prune.run(nowMs);
    if (this.#insert.run(scope, nonce, expiresAtMs).changes === 1) return true;
    return this.#takeOver.run(expiresAtMs, scope, nonce, nowMs).changes === 1;
  }

  close(): void {
    this.#db.close();
  }
}
