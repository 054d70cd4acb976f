import type Database from "better-sqlite3";
import { versionOfValue } from "../crypto/index.ts";
import { openSqliteFile } from "./sqlite-file.ts";
import { type HeadSource, type StateAnchor, StateVersions } from "./state-versions.ts";

/** What a versioned write did: written, refused by the quota, or the head moved under it. */
export type VersionedWrite = "written" | "over-quota" | "head-moved";

/**
 * Agents' state rows in SQLite: (agent, row key) → sealed bytes. It holds only ciphertext and
 * HMAC'd row keys (see src/worker/agent-state.ts); the file may be shared by the workers of
 * one machine (WAL mode, busy timeout), so that an agent sees one state whichever serves it.
 */
export class SqliteStateStore implements HeadSource {
  readonly #db: Database.Database;
  readonly #get: Database.Statement<[string, string], { value: Buffer }>;
  readonly #put: Database.Statement<[string, string, Buffer, number]>;
  readonly #delete: Database.Statement<[string, string]>;
  readonly #rows: Database.Statement<[string], { row: string; value: Buffer }>;
  readonly #usage: Database.Statement<[string], { bytes: number | null; count: number }>;
  readonly #head: Database.Statement<[string], { head: Buffer }>;
  readonly #putHead: Database.Statement<[string, Buffer]>;
  /** What this process has verified of each agent's rows (shared by all its agents' states). */
  readonly versions: StateVersions;

  constructor(path: string, options: { anchor?: StateAnchor } = {}) {
    this.versions = new StateVersions(options.anchor);
    this.#db = openSqliteFile(
      path,
      { what: "the state store", ifRemoved: "every agent served from it loses its ctx.state" },
      (db) =>
        db.exec(`CREATE TABLE IF NOT EXISTS agent_state (
      agent TEXT NOT NULL,
      row TEXT NOT NULL,
      value BLOB NOT NULL,
      size INTEGER NOT NULL,
      PRIMARY KEY (agent, row)
    ) WITHOUT ROWID;
    -- Each agent's head: its write counter and the digest of its rows' versions, MAC'd by the
    -- agent's key (src/storage/state-versions.ts). Written in the same transaction as the row.
    CREATE TABLE IF NOT EXISTS agent_heads (
      agent TEXT NOT NULL PRIMARY KEY,
      head BLOB NOT NULL
    ) WITHOUT ROWID`),
    );
    this.#head = this.#db.prepare("SELECT head FROM agent_heads WHERE agent = ?");
    this.#putHead = this.#db.prepare(
      "INSERT INTO agent_heads (agent, head) VALUES (?, ?) ON CONFLICT (agent) DO UPDATE SET head = excluded.head",
    );
    this.#get = this.#db.prepare("SELECT value FROM agent_state WHERE agent = ? AND row = ?");
    this.#put = this.#db.prepare(
      "INSERT INTO agent_state (agent, row, value, size) VALUES (?, ?, ?, ?) ON CONFLICT (agent, row) DO UPDATE SET value = excluded.value, size = excluded.size",
    );
    this.#delete = this.#db.prepare("DELETE FROM agent_state WHERE agent = ? AND row = ?");
    this.#rows = this.#db.prepare("SELECT row, value FROM agent_state WHERE agent = ?");
    this.#usage = this.#db.prepare(
      "SELECT SUM(size) AS bytes, COUNT(*) AS count FROM agent_state WHERE agent = ?",
    );
  }

  get(agent: string, row: string): Uint8Array | undefined {
    const r = this.#get.get(agent, row);
    return r ? new Uint8Array(r.value) : undefined;
  }

  /**
   * Rewrites an agent's rows in one immediate transaction: `change` returns the new value of a
   * row, or undefined to leave it. Used by a key rotation to re-encrypt state in place; no
   * other writer (in this process or another on the same file) interleaves with it.
   */
  rewrite(agent: string, change: (row: string, value: Uint8Array) => Uint8Array | undefined): number {
    return this.#db
      .transaction(() => {
        let changed = 0;
        for (const r of this.#rows.all(agent)) {
          const next = change(r.row, new Uint8Array(r.value));
          if (next === undefined) continue;
          this.#put.run(agent, r.row, Buffer.from(next), next.length);
          changed++;
        }
        return changed;
      })
      .immediate();
  }

  head(agent: string): Uint8Array | undefined {
    const r = this.#head.get(agent);
    return r ? new Uint8Array(r.head) : undefined;
  }

  /**
   * Writes (or, with `value` undefined, deletes) a row and the agent's new head in one
   * transaction, if the head is still `expected`: another writer that moved it first makes
   * this one re-read and try again.
   */
  writeVersioned(
    agent: string,
    row: string,
    value: Uint8Array | undefined,
    head: { expected: Uint8Array | undefined; next: Uint8Array },
    quota: { maxBytes: number; maxRows: number },
  ): VersionedWrite {
    return this.#db
      .transaction((): VersionedWrite => {
        const current = this.#head.get(agent)?.head;
        const same =
          current === undefined
            ? head.expected === undefined
            : head.expected !== undefined && Buffer.compare(current, head.expected) === 0;
        if (!same) return "head-moved";
        if (value === undefined) {
          this.#delete.run(agent, row);
        } else {
          const usage = this.#usage.get(agent) ?? { bytes: 0, count: 0 };
          const existing = this.#get.get(agent, row);
          const bytes = (usage.bytes ?? 0) - (existing ? existing.value.length : 0) + value.length;
          const count = usage.count + (existing ? 0 : 1);
          if (bytes > quota.maxBytes || count > quota.maxRows) return "over-quota";
          this.#put.run(agent, row, Buffer.from(value), value.length);
        }
        this.#putHead.run(agent, Buffer.from(head.next));
        return "written";
      })
      .immediate();
  }

  rowVersions(agent: string): { row: string; version: bigint | undefined }[] {
    return this.#rows.all(agent).map((r) => ({ row: r.row, version: versionOfValue(r.value) }));
  }

  rows(agent: string): { row: string; value: Uint8Array }[] {
    return this.#rows.all(agent).map((r) => ({ row: r.row, value: new Uint8Array(r.value) }));
  }

  usage(agent: string): { bytes: number; rows: number } {
    const u = this.#usage.get(agent);
    return { bytes: u?.bytes ?? 0, rows: u?.count ?? 0 };
  }

  close(): void {
    this.#db.close();
  }
}
