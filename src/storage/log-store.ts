import type Database from "better-sqlite3";
import { openSqliteFile } from "./sqlite-file.ts";

export type SealedLogEntry = { seq: number; at: number; worker: string; sealed: Uint8Array };

/**
 * Agents' logs as sealed batches in SQLite (only ciphertext: each batch is sealed to the agent
 * owner's key before it gets here). The newest `keepPerAgent` batches of each agent are kept.
 */
export class SqliteLogStore {
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
        db.exec(`CREATE TABLE IF NOT EXISTS agent_logs (
      seq INTEGER PRIMARY KEY AUTOINCREMENT,
      agent TEXT NOT NULL,
      at INTEGER NOT NULL,
      worker TEXT NOT NULL,
      sealed BLOB NOT NULL
    );
    CREATE INDEX IF NOT EXISTS agent_logs_by_agent ON agent_logs (agent, seq);`),
    );
    this.#append = this.#db.prepare("INSERT INTO agent_logs (agent, at, worker, sealed) VALUES (?, ?, ?, ?)");
    this.#after = this.#db.prepare(
      "SELECT seq, at, worker, sealed FROM agent_logs WHERE agent = ? AND seq > ? ORDER BY seq LIMIT ?",
    );
    this.#trim = this.#db.prepare(
      "DELETE FROM agent_logs WHERE agent = ? AND seq <= (SELECT seq FROM agent_logs WHERE agent = ? ORDER BY seq DESC LIMIT 1 OFFSET ?)",
    );
  }

  append(agent: string, worker: string, sealed: Uint8Array, at = Date.now()): void {
    this.#append.run(agent, at, worker, Buffer.from(sealed));
    if (++this.#appends % 100 === 0) this.#trim.run(agent, agent, this.#keep);
  }

  after(agent: string, afterSeq: number, limit = 500): SealedLogEntry[] {
    return this.#after.all(agent, afterSeq, limit).map((r) => ({ ...r, sealed: new Uint8Array(r.sealed) }));
  }

  close(): void {
    this.#db.close();
  }
}
