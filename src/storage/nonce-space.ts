import type Database from "better-sqlite3";
import type pg from "pg";
import { type Migration, migratedPool, migrateSqlite } from "./migrations.ts";
import { openSqliteFile } from "./sqlite-file.ts";

/**
 * Where the workers serving an agent remember which request nonces they have answered, so that
 * a request seen by one worker cannot run again on another (docs/adr/0020). `claim` is true the
 * first time a (scope, nonce) is claimed before it expires, false ever after.
 */
export interface NonceSpace {
  claim(scope: string, nonce: string, expiresAtMs: number, nowMs: number): Promise<boolean>;
  close?(): Promise<void>;
}

const NONCE_TABLE = (blob: string) => `CREATE TABLE IF NOT EXISTS used_nonces (
      scope TEXT NOT NULL,
      nonce TEXT NOT NULL,
      expires ${blob} NOT NULL,
      PRIMARY KEY (scope, nonce)
    )`;

/** One process's memory: enough for one worker alone (and for tests). */
export class MemoryNonceSpace implements NonceSpace {
  readonly #seen = new Map<string, number>();
  #claims = 0;

  async claim(scope: string, nonce: string, expiresAtMs: number, nowMs: number): Promise<boolean> {
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
      (db) => migrateSqlite(db, "nonces", [{ version: 1, sql: `${NONCE_TABLE("INTEGER")} WITHOUT ROWID` }]),
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

  async claim(scope: string, nonce: string, expiresAtMs: number, nowMs: number): Promise<boolean> {
    if (++this.#claims % 1024 === 0) this.#prune.run(nowMs);
    if (this.#insert.run(scope, nonce, expiresAtMs).changes === 1) return true;
    return this.#takeOver.run(expiresAtMs, scope, nonce, nowMs).changes === 1;
  }

  async close(): Promise<void> {
    this.#db.close();
  }
}

const POSTGRES_NONCES: readonly Migration[] = [{ version: 1, sql: NONCE_TABLE("BIGINT") }];

/**
 * Nonces in the PostgreSQL database the agent's workers share, on whichever hosts they run: one
 * statement claims a nonce (inserted, or an expired row taken over), so of two workers handed
 * the same request at once exactly one runs it.
 */
export class PostgresNonceSpace implements NonceSpace {
  readonly #pool: pg.Pool;
  #claims = 0;

  readonly #owned: boolean;

  private constructor(pool: pg.Pool, owned: boolean) {
    this.#pool = pool;
    this.#owned = owned;
  }

  /** From a URL (its own pool) or a pool shared with the worker's other stores. */
  static async open(source: string | pg.Pool, namespace?: string): Promise<PostgresNonceSpace> {
    const { pool, owned } = await migratedPool(
      source,
      "the nonce store",
      "nonces",
      POSTGRES_NONCES,
      namespace,
    );
    return new PostgresNonceSpace(pool, owned);
  }

  async claim(scope: string, nonce: string, expiresAtMs: number, nowMs: number): Promise<boolean> {
    if (++this.#claims % 1024 === 0)
      await this.#pool.query("DELETE FROM used_nonces WHERE expires <= $1", [nowMs]);
    const r = await this.#pool.query(
      `INSERT INTO used_nonces (scope, nonce, expires) VALUES ($1, $2, $3)
       ON CONFLICT (scope, nonce) DO UPDATE SET expires = excluded.expires WHERE used_nonces.expires <= $4`,
      [scope, nonce, expiresAtMs, nowMs],
    );
    return r.rowCount === 1;
  }

  async close(): Promise<void> {
    if (this.#owned) await this.#pool.end();
  }
}
