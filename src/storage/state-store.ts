import type Database from "better-sqlite3";
import { versionOfValue } from "../crypto/index.ts";
import { type Migration, migrateSqlite } from "./migrations.ts";
import { openSqliteFile } from "./sqlite-file.ts";
import { type StateAnchor, StateVersions } from "./state-versions.ts";

/**
 * What a versioned write did: written; refused by the quota; the head moved under it (another
 * writer came first: read again and retry); or a key rotation moved the agent's rows to a
 * newer epoch than the one the write was sealed under (seal again under the current key).
 */
export type VersionedWrite = "written" | "over-quota" | "head-moved" | "epoch-moved";

/** One row of a write: its new sealed value, or undefined to delete it. */
export type RowWrite = { row: string; value: Uint8Array | undefined };

/** A row's write version, as sealed into it (undefined for a row from before versions). */
export type RowVersion = { row: string; version: bigint | undefined };

/**
 * Where agents' state rows live: (agent, row key) → sealed bytes, plus each agent's head (its
 * write counter and a MAC'd digest of its rows' versions, src/storage/state-versions.ts). It
 * holds only ciphertext and HMAC'd row names (src/storage/agent-state.ts). Two implementations:
 * SQLite (one machine; the default) and PostgreSQL (workers on many hosts).
 *
 * What every implementation guarantees (docs/adr/0024):
 * - a read after an acknowledged write, through any store on the same database, sees it;
 * - `read` and `snapshot` each see one consistent state (a row with the head it was written
 *   with), so a reader never takes another writer's half-done work for a rollback;
 * - `write` lands whole or not at all, and only if the agent's head is still the one the
 *   writer read (compare-and-set), so two writers never lose each other's rows;
 * - `rewrite` (a key rotation) and `write` never interleave for one agent, and a write sealed
 *   under an epoch older than the last rewrite's is refused ("epoch-moved").
 */
export interface StateStore {
  /** What this process has verified of each agent's rows (shared by all its agents' states). */
  readonly versions: StateVersions;
  /** A row's sealed value and the agent's head, read together. */
  read(agent: string, row: string): Promise<{ value: Uint8Array | undefined; head: Uint8Array | undefined }>;
  /** The agent's head alone. */
  head(agent: string): Promise<Uint8Array | undefined>;
  /** The agent's head and every row's write version, read together. */
  snapshot(agent: string): Promise<{ head: Uint8Array | undefined; rows: RowVersion[] }>;
  /** The agent's head and every row's sealed value, read together. */
  rows(agent: string): Promise<{ head: Uint8Array | undefined; rows: { row: string; value: Uint8Array }[] }>;
  /** Sealed bytes and rows the agent keeps. */
  usage(agent: string): Promise<{ bytes: number; rows: number }>;
  /**
   * Writes (or deletes) rows and the agent's new head in one transaction, if the head is still
   * `expected`, the rows stay within `quota`, and `epoch` is not older than the agent's rows
   * were last moved to.
   */
  write(
    agent: string,
    writes: readonly RowWrite[],
    head: { expected: Uint8Array | undefined; next: Uint8Array },
    quota: { maxBytes: number; maxRows: number },
    epoch: bigint,
  ): Promise<VersionedWrite>;
  /**
   * Rewrites an agent's rows in one transaction that no write of the agent interleaves with:
   * `change` returns a row's new value or undefined to leave it. From then on, writes sealed
   * under an epoch below `epoch` are refused. Used by a key rotation to re-encrypt in place.
   */
  rewrite(
    agent: string,
    epoch: bigint,
    change: (row: string, value: Uint8Array) => Uint8Array | undefined,
  ): Promise<number>;
  close(): Promise<void>;
}

const STATE_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    sql: `CREATE TABLE IF NOT EXISTS agent_state (
      agent TEXT NOT NULL,
      row TEXT NOT NULL,
      value BLOB NOT NULL,
      size INTEGER NOT NULL,
      PRIMARY KEY (agent, row)
    ) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS agent_heads (
      agent TEXT NOT NULL PRIMARY KEY,
      head BLOB NOT NULL
    ) WITHOUT ROWID`,
  },
  {
    // The epoch a key rotation last moved an agent's rows to: older writes are refused.
    version: 2,
    sql: `CREATE TABLE IF NOT EXISTS agent_epochs (
      agent TEXT NOT NULL PRIMARY KEY,
      epoch INTEGER NOT NULL
    ) WITHOUT ROWID`,
  },
];

const buf = (b: Buffer | undefined) => (b ? new Uint8Array(b) : undefined);

/**
 * Agents' state rows in a SQLite file, which the workers of one machine may share (WAL mode,
 * busy timeout; every write an immediate transaction, so writers of all processes take turns).
 */
export class SqliteStateStore implements StateStore {
  readonly #db: Database.Database;
  readonly #get: Database.Statement<[string, string], { value: Buffer }>;
  readonly #put: Database.Statement<[string, string, Buffer, number]>;
  readonly #delete: Database.Statement<[string, string]>;
  readonly #rows: Database.Statement<[string], { row: string; value: Buffer }>;
  readonly #versionPrefixes: Database.Statement<[string], { row: string; prefix: Buffer }>;
  readonly #usage: Database.Statement<[string], { bytes: number | null; count: number }>;
  readonly #head: Database.Statement<[string], { head: Buffer }>;
  readonly #putHead: Database.Statement<[string, Buffer]>;
  readonly #epoch: Database.Statement<[string], { epoch: number | bigint }>;
  readonly #raiseEpoch: Database.Statement<[string, bigint]>;
  readonly versions: StateVersions;

  constructor(path: string, options: { anchor?: StateAnchor } = {}) {
    this.versions = new StateVersions(options.anchor);
    this.#db = openSqliteFile(
      path,
      { what: "the state store", ifRemoved: "every agent served from it loses its ctx.state" },
      (db) => migrateSqlite(db, "state", STATE_MIGRATIONS),
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
    // Only the bytes that carry a value's epoch and write version (see versionOfValue).
    this.#versionPrefixes = this.#db.prepare(
      "SELECT row, substr(value, 1, 17) AS prefix FROM agent_state WHERE agent = ?",
    );
    this.#usage = this.#db.prepare(
      "SELECT SUM(size) AS bytes, COUNT(*) AS count FROM agent_state WHERE agent = ?",
    );
    this.#epoch = this.#db.prepare("SELECT epoch FROM agent_epochs WHERE agent = ?");
    this.#epoch.safeIntegers(true);
    this.#raiseEpoch = this.#db.prepare(
      "INSERT INTO agent_epochs (agent, epoch) VALUES (?, ?) ON CONFLICT (agent) DO UPDATE SET epoch = MAX(epoch, excluded.epoch)",
    );
  }

  async read(agent: string, row: string) {
    // One read transaction: in WAL mode its statements see one snapshot.
    return this.#db.transaction(() => ({
      value: buf(this.#get.get(agent, row)?.value),
      head: buf(this.#head.get(agent)?.head),
    }))();
  }

  async head(agent: string) {
    return buf(this.#head.get(agent)?.head);
  }

  async snapshot(agent: string) {
    return this.#db.transaction(() => ({
      head: buf(this.#head.get(agent)?.head),
      rows: this.#versionPrefixes
        .all(agent)
        .map((r) => ({ row: r.row, version: versionOfValue(new Uint8Array(r.prefix)) })),
    }))();
  }

  async rows(agent: string) {
    return this.#db.transaction(() => ({
      head: buf(this.#head.get(agent)?.head),
      rows: this.#rows.all(agent).map((r) => ({ row: r.row, value: new Uint8Array(r.value) })),
    }))();
  }

  async usage(agent: string) {
    const u = this.#usage.get(agent);
    return { bytes: u?.bytes ?? 0, rows: u?.count ?? 0 };
  }

  async write(
    agent: string,
    writes: readonly RowWrite[],
    head: { expected: Uint8Array | undefined; next: Uint8Array },
    quota: { maxBytes: number; maxRows: number },
    epoch: bigint,
  ): Promise<VersionedWrite> {
    try {
      return this.#db
        .transaction((): VersionedWrite => {
          const current = this.#head.get(agent)?.head;
          if (!sameHead(current, head.expected)) return "head-moved";
          const floor = this.#epoch.get(agent)?.epoch;
          if (floor !== undefined && epoch < BigInt(floor)) return "epoch-moved";
          const usage = this.#usage.get(agent);
          let bytes = usage?.bytes ?? 0;
          let count = usage?.count ?? 0;
          for (const w of writes) {
            const existing = this.#get.get(agent, w.row);
            if (existing) {
              bytes -= existing.value.length;
              count--;
            }
            if (w.value === undefined) this.#delete.run(agent, w.row);
            else {
              bytes += w.value.length;
              count++;
              this.#put.run(agent, w.row, Buffer.from(w.value), w.value.length);
            }
          }
          if (
            writes.some((w) => w.value !== undefined) &&
            (bytes > quota.maxBytes || count > quota.maxRows)
          ) {
            // Undo the rows written above: a refused write changes nothing.
            throw new OverQuota();
          }
          this.#putHead.run(agent, Buffer.from(head.next));
          return "written";
        })
        .immediate();
    } catch (err) {
      if (err instanceof OverQuota) return "over-quota";
      throw err;
    }
  }

  async rewrite(
    agent: string,
    epoch: bigint,
    change: (row: string, value: Uint8Array) => Uint8Array | undefined,
  ) {
    return this.#db
      .transaction(() => {
        this.#raiseEpoch.run(agent, epoch);
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

  async close(): Promise<void> {
    this.#db.close();
  }
}

/** Thrown inside a write's transaction to roll it back when it would exceed the quota. */
class OverQuota extends Error {}

export function sameHead(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return Buffer.compare(a, b) === 0;
}
