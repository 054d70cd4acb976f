import type Database from "better-sqlite3";
import type pg from "pg";
import { type Migration, migratedPool, migrateSqlite } from "./migrations.ts";
import { openSqliteFile } from "./sqlite-file.ts";

export type SealedLogEntry = { seq: number; at: number; worker: string; sealed: Uint8Array };

/**
 * Agents' logs as sealed batches (only ciphertext: each batch is sealed to the agent owner's key
 * before it gets here), numbered in the order stored. The workers serving an agent share one,
 * so its owner reads every worker's batches from any of them.
 */
export interface LogStore {
  append(agent: string, worker: string, sealed: Uint8Array, at?: number): Promise<void>;
  /** Batches after sequence number `afterSeq`, oldest first. */
  after(agent: string, afterSeq: number, limit?: number): Promise<SealedLogEntry[]>;
  close(): Promise<void>;
}

/**
 * Agents' logs as sealed batches in SQLite (only ciphertext: each batch is sealed to the agent
 * owner's key before it gets here). The newest `keepPerAgent` batches of each agent are kept.
 */
export class SqliteLogStore implements LogStore {
  readonly #db: Database.Database;
  readonly #append: Database.Statement<[string, number, string, Buffer]>;
  readonly #after: Database.Statement<
    [string, number, number],
    { seq: number; at: number; worker: string; sealed: Buffer }
  >;
  readonly #trim: Database.Statement<[string, string, number]>;
  readonly #keep: number;
  #appends = 0;

  constructor(path: string, options: { keepPerAgent?: number } = {}) {
    this.#keep = options.keepPerAgent ?? 10_000;
    this.#db = openSqliteFile(
      path,
      { what: "the log store", ifRemoved: "agents' past log lines are gone" },
      (db) =>
        migrateSqlite(db, "logs", [
          {
            version: 1,
            sql: `CREATE TABLE IF NOT EXISTS agent_logs (
      seq INTEGER PRIMARY KEY AUTOINCREMENT,
      agent TEXT NOT NULL,
      at INTEGER NOT NULL,
      worker TEXT NOT NULL,
      sealed BLOB NOT NULL
    );
    CREATE INDEX IF NOT EXISTS agent_logs_by_agent ON agent_logs (agent, seq);`,
          },
        ]),
    );
    this.#append = this.#db.prepare("INSERT INTO agent_logs (agent, at, worker, sealed) VALUES (?, ?, ?, ?)");
    this.#after = this.#db.prepare(
      "SELECT seq, at, worker, sealed FROM agent_logs WHERE agent = ? AND seq > ? ORDER BY seq LIMIT ?",
    );
    this.#trim = this.#db.prepare(
      "DELETE FROM agent_logs WHERE agent = ? AND seq <= (SELECT seq FROM agent_logs WHERE agent = ? ORDER BY seq DESC LIMIT 1 OFFSET ?)",
    );
  }

  async append(agent: string, worker: string, sealed: Uint8Array, at = Date.now()): Promise<void> {
    this.#append.run(agent, at, worker, Buffer.from(sealed));
    if (++this.#appends % 100 === 0) this.#trim.run(agent, agent, this.#keep);
  }

  async after(agent: string, afterSeq: number, limit = 500): Promise<SealedLogEntry[]> {
    return this.#after.all(agent, afterSeq, limit).map((r) => ({ ...r, sealed: new Uint8Array(r.sealed) }));
  }

  async close(): Promise<void> {
    this.#db.close();
  }
}

const LOG_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    sql: `CREATE TABLE IF NOT EXISTS agent_logs (
      seq BIGSERIAL PRIMARY KEY,
      agent TEXT NOT NULL,
      at BIGINT NOT NULL,
      worker TEXT NOT NULL,
      sealed BYTEA NOT NULL
    );
    CREATE INDEX IF NOT EXISTS agent_logs_by_agent ON agent_logs (agent, seq)`,
  },
];

/** Agents' sealed log batches in PostgreSQL, shared by workers on any host. */
export class PostgresLogStore implements LogStore {
  readonly #pool: pg.Pool;
  readonly #keep: number;
  #appends = 0;

  readonly #owned: boolean;

  private constructor(pool: pg.Pool, owned: boolean, keep: number) {
    this.#pool = pool;
    this.#owned = owned;
    this.#keep = keep;
  }

  /** From a URL (its own pool) or a pool shared with the worker's other stores. */
  static async open(
    source: string | pg.Pool,
    options: { keepPerAgent?: number; namespace?: string } = {},
  ): Promise<PostgresLogStore> {
    const { pool, owned } = await migratedPool(
      source,
      "the log store",
      "logs",
      LOG_MIGRATIONS,
      options.namespace,
    );
    return new PostgresLogStore(pool, owned, options.keepPerAgent ?? 10_000);
  }

  async append(agent: string, worker: string, sealed: Uint8Array, at = Date.now()): Promise<void> {
    await this.#pool.query("INSERT INTO agent_logs (agent, at, worker, sealed) VALUES ($1, $2, $3, $4)", [
      agent,
      at,
      worker,
      Buffer.from(sealed),
    ]);
    if (++this.#appends % 100 === 0) {
      await this.#pool.query(
        `DELETE FROM agent_logs WHERE agent = $1 AND seq <= (
           SELECT seq FROM agent_logs WHERE agent = $1 ORDER BY seq DESC LIMIT 1 OFFSET $2)`,
        [agent, this.#keep],
      );
    }
  }

  async after(agent: string, afterSeq: number, limit = 500): Promise<SealedLogEntry[]> {
    const r = await this.#pool.query<{ seq: string; at: string; worker: string; sealed: Buffer }>(
      "SELECT seq, at, worker, sealed FROM agent_logs WHERE agent = $1 AND seq > $2 ORDER BY seq LIMIT $3",
      [agent, afterSeq, limit],
    );
    return r.rows.map((row) => ({
      seq: Number(row.seq),
      at: Number(row.at),
      worker: row.worker,
      sealed: new Uint8Array(row.sealed),
    }));
  }

  async close(): Promise<void> {
    if (this.#owned) await this.#pool.end();
  }
}
