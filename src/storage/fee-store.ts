import type Database from "better-sqlite3";
import type pg from "pg";
import { type Migration, migratedPool, migrateSqlite } from "./migrations.ts";
import { openSqliteFile } from "./sqlite-file.ts";
import { sameHead } from "./state-store.ts";

/**
 * One fee channel (payer, agent) of one worker as stored: its latest voucher, what the chain
 * paid of it, and the write version and MAC its ledger keeps it under (`src/worker/fees.ts`).
 * Amounts are decimal strings (they exceed 2^53).
 */
export type FeeRow = {
  payer: string;
  agent: string;
  calls: string;
  amount: string;
  r: string | null;
  vs: string | null;
  claimed_calls: string;
  claimed_amount: string;
  dropped: number;
  shortfall: number;
  version: string | null;
  mac: Uint8Array | null;
};

/** A worker's ledger head with all its channels, or with one, read in one snapshot. */
export type FeeSnapshot = { head: Uint8Array | undefined; rows: FeeRow[] };

/**
 * Where workers keep their fee ledgers (docs/adr/0024): each worker's channels and its head,
 * keyed by worker, so one database holds every worker's. The store only keeps bytes; the
 * ledger MACs and checks them, since the store's host may play them back.
 */
export interface FeeStore {
  /** The worker's head and every channel of it, in one snapshot. */
  snapshot(worker: string): Promise<FeeSnapshot>;
  /** The worker's head and its channel (payer, agent) if there is one, in one snapshot. */
  channel(worker: string, payer: string, agent: string): Promise<FeeSnapshot>;
  /**
   * Writes `rows` and the worker's new `head` in one transaction, only if its head is still
   * `expected` (undefined: none yet). False, and nothing written, if it moved. Durable once it
   * resolves (an acknowledged fee entry survives a crash of the process).
   */
  write(
    worker: string,
    rows: readonly FeeRow[],
    head: Uint8Array,
    expected: Uint8Array | undefined,
  ): Promise<boolean>;
  close(): Promise<void>;
}

const COLUMNS = [
  "payer",
  "agent",
  "calls",
  "amount",
  "r",
  "vs",
  "claimed_calls",
  "claimed_amount",
  "dropped",
  "shortfall",
  "version",
  "mac",
] as const;

/**
 * The two tables in either database's dialect: the same columns and keys, with its byte type
 * (and SQLite's WITHOUT ROWID, the primary key being the row's only index).
 */
function feeTables(bytes: "BLOB" | "BYTEA", suffix: "" | " WITHOUT ROWID"): string {
  return `CREATE TABLE IF NOT EXISTS fee_channels (
      worker TEXT NOT NULL,
      payer TEXT NOT NULL,
      agent TEXT NOT NULL,
      calls TEXT NOT NULL,
      amount TEXT NOT NULL,
      r TEXT,
      vs TEXT,
      claimed_calls TEXT NOT NULL,
      claimed_amount TEXT NOT NULL,
      dropped INTEGER NOT NULL DEFAULT 0,
      shortfall INTEGER NOT NULL DEFAULT 0,
      version TEXT,
      mac ${bytes},
      PRIMARY KEY (worker, payer, agent)
    )${suffix};
    CREATE TABLE IF NOT EXISTS fee_heads (
      worker TEXT NOT NULL PRIMARY KEY,
      head ${bytes} NOT NULL
    )${suffix}`;
}

const SQLITE_MIGRATIONS: readonly Migration[] = [
  // The tables as the release before this one made them (see `addVersionColumns` for older).
  { version: 1, sql: feeTables("BLOB", " WITHOUT ROWID") },
];

/** A ledger from before rows were versioned has `fee_channels` without these two columns. */
function addVersionColumns(db: Database.Database): void {
  const columns = new Set(
    (db.prepare("PRAGMA table_info(fee_channels)").all() as { name: string }[]).map((c) => c.name),
  );
  if (columns.size === 0) return;
  if (!columns.has("version")) db.exec("ALTER TABLE fee_channels ADD COLUMN version TEXT");
  if (!columns.has("mac")) db.exec("ALTER TABLE fee_channels ADD COLUMN mac BLOB");
}

type SqliteRow = Omit<FeeRow, "mac"> & { mac: Buffer | null };

/** Fee ledgers in a SQLite file (by default the worker's own `DATA/fees.sqlite`). */
export class SqliteFeeStore implements FeeStore {
  readonly #db: Database.Database;
  readonly #head: Database.Statement<[string], { head: Buffer }>;
  readonly #all: Database.Statement<[string], SqliteRow>;
  readonly #one: Database.Statement<[string, string, string], SqliteRow>;
  readonly #upsert: Database.Statement;
  readonly #setHead: Database.Statement<[string, Buffer]>;

  constructor(path: string) {
    this.#db = openSqliteFile(
      path,
      {
        what: "the fee ledger",
        ifRemoved: "vouchers not yet claimed from FeeEscrow are lost to this operator",
      },
      (db) => {
        addVersionColumns(db);
        migrateSqlite(db, "fees", SQLITE_MIGRATIONS);
      },
    );
    // WAL with NORMAL sync: no fsync per call, yet a commit survives a crash of the process
    // (kill -9); a power cut may lose the last calls' vouchers (their fees), never pay one
    // twice: the chain's channel record is what claims go by.
    this.#db.pragma("synchronous = NORMAL");
    this.#head = this.#db.prepare("SELECT head FROM fee_heads WHERE worker = ?");
    this.#all = this.#db.prepare(`SELECT ${COLUMNS.join(", ")} FROM fee_channels WHERE worker = ?`);
    this.#one = this.#db.prepare(
      `SELECT ${COLUMNS.join(", ")} FROM fee_channels WHERE worker = ? AND payer = ? AND agent = ?`,
    );
    this.#upsert = this.#db.prepare(
      `INSERT INTO fee_channels (worker, ${COLUMNS.join(", ")})
       VALUES (@worker, ${COLUMNS.map((c) => `@${c}`).join(", ")})
       ON CONFLICT (worker, payer, agent) DO UPDATE SET ${COLUMNS.slice(2)
         .map((c) => `${c} = excluded.${c}`)
         .join(", ")}`,
    );
    this.#setHead = this.#db.prepare(
      "INSERT INTO fee_heads (worker, head) VALUES (?, ?) ON CONFLICT (worker) DO UPDATE SET head = excluded.head",
    );
  }

  async snapshot(worker: string): Promise<FeeSnapshot> {
    return this.#db.transaction(() => ({
      head: this.#readHead(worker),
      rows: this.#all.all(worker).map(fromSqlite),
    }))();
  }

  async channel(worker: string, payer: string, agent: string): Promise<FeeSnapshot> {
    return this.#db.transaction(() => {
      const row = this.#one.get(worker, payer, agent);
      return { head: this.#readHead(worker), rows: row ? [fromSqlite(row)] : [] };
    })();
  }

  async write(
    worker: string,
    rows: readonly FeeRow[],
    head: Uint8Array,
    expected: Uint8Array | undefined,
  ): Promise<boolean> {
    return this.#db
      .transaction(() => {
        if (!sameHead(this.#readHead(worker), expected)) return false;
        for (const row of rows)
          this.#upsert.run({ ...row, worker, mac: row.mac ? Buffer.from(row.mac) : null });
        this.#setHead.run(worker, Buffer.from(head));
        return true;
      })
      .immediate();
  }

  #readHead(worker: string): Uint8Array | undefined {
    const r = this.#head.get(worker);
    return r ? new Uint8Array(r.head) : undefined;
  }

  /** For tests that play the host: the file's database. */
  get db(): Database.Database {
    return this.#db;
  }

  async close(): Promise<void> {
    this.#db.close();
  }
}

function fromSqlite(r: SqliteRow): FeeRow {
  return { ...r, mac: r.mac ? new Uint8Array(r.mac) : null };
}

const POSTGRES_MIGRATIONS: readonly Migration[] = [{ version: 1, sql: feeTables("BYTEA", "") }];

/** Each column's type in the write's arrays (`unnest` takes them one array a column). */
const PG_TYPES: Record<(typeof COLUMNS)[number], string> = {
  payer: "text",
  agent: "text",
  calls: "text",
  amount: "text",
  r: "text",
  vs: "text",
  claimed_calls: "text",
  claimed_amount: "text",
  dropped: "integer",
  shortfall: "integer",
  version: "text",
  mac: "bytea",
};

/**
 * A fee write: $1 worker, $2 the new head, $3 the head expected (NULL: none yet), then one array
 * per column of the rows. Data-modifying CTEs run once each, on one snapshot; `moved` is how
 * the channels' insert learns whether the head moved.
 */
const WRITE = `WITH first AS (
    INSERT INTO fee_heads (worker, head) SELECT $1, $2 WHERE $3::bytea IS NULL
    ON CONFLICT (worker) DO NOTHING RETURNING 1
  ), next AS (
    UPDATE fee_heads SET head = $2 WHERE worker = $1 AND $3::bytea IS NOT NULL AND head = $3::bytea RETURNING 1
  ), moved AS (
    SELECT 1 FROM first UNION ALL SELECT 1 FROM next
  ), channels AS (
    INSERT INTO fee_channels (worker, ${COLUMNS.join(", ")})
    SELECT $1, * FROM unnest(${COLUMNS.map((c, i) => `$${i + 4}::${PG_TYPES[c]}[]`).join(", ")})
    WHERE EXISTS (SELECT 1 FROM moved)
    ON CONFLICT (worker, payer, agent) DO UPDATE SET ${COLUMNS.slice(2)
      .map((c) => `${c} = excluded.${c}`)
      .join(", ")}
    RETURNING 1
  )
  SELECT EXISTS (SELECT 1 FROM moved) AS moved`;

type PostgresRow = Omit<FeeRow, "mac"> & { mac: Buffer | null; head: Buffer | null; kind: "h" | "c" };

/**
 * Fee ledgers in the network's PostgreSQL (`--state postgres://…`), beside agents' state: a
 * worker's vouchers outlive its host's disk. A write is one statement (`WRITE`): a
 * compare-and-set on the worker's head row, whose lock orders the worker's writes, committed (WAL
 * flushed) before it resolves.
 */
export class PostgresFeeStore implements FeeStore {
  readonly #pool: pg.Pool;
  readonly #owned: boolean;

  private constructor(pool: pg.Pool, owned: boolean) {
    this.#pool = pool;
    this.#owned = owned;
  }

  /** From a URL (its own pool) or a pool shared with the worker's other stores. */
  static async open(
    source: string | pg.Pool,
    options: { namespace?: string } = {},
  ): Promise<PostgresFeeStore> {
    const { pool, owned } = await migratedPool(
      source,
      "the fee ledger",
      "fees",
      POSTGRES_MIGRATIONS,
      options.namespace,
    );
    return new PostgresFeeStore(pool, owned);
  }

  async snapshot(worker: string): Promise<FeeSnapshot> {
    return this.#read(worker, "");
  }

  async channel(worker: string, payer: string, agent: string): Promise<FeeSnapshot> {
    return this.#read(worker, " AND payer = $2 AND agent = $3", [payer, agent]);
  }

  /** The head and the rows in one statement: one snapshot under READ COMMITTED. */
  async #read(worker: string, where: string, params: string[] = []): Promise<FeeSnapshot> {
    const r = await this.#pool.query<PostgresRow>(
      `SELECT 'h' AS kind, head, NULL AS ${COLUMNS.join(", NULL AS ")} FROM fee_heads WHERE worker = $1
       UNION ALL
       SELECT 'c', NULL, ${COLUMNS.join(", ")} FROM fee_channels WHERE worker = $1${where}`,
      [worker, ...params],
    );
    let head: Uint8Array | undefined;
    const rows: FeeRow[] = [];
    for (const { kind, head: h, ...row } of r.rows) {
      if (kind === "h") head = h ? new Uint8Array(h) : undefined;
      else
        rows.push({
          ...row,
          dropped: Number(row.dropped),
          shortfall: Number(row.shortfall),
          mac: row.mac ? new Uint8Array(row.mac) : null,
        });
    }
    return { head, rows };
  }

  /**
   * One statement, so one round trip and its own transaction (committed, WAL flushed, before
   * it resolves): the head moves by compare-and-set on its row, and the channels are written
   * only if it moved. The head's row lock orders a worker's writes on every host: a write that
   * waited on another's re-reads the head that one left (READ COMMITTED), sees it moved, and
   * writes nothing. A worker's first write inserts the head; of two at once, one conflicts.
   */
  async write(
    worker: string,
    rows: readonly FeeRow[],
    head: Uint8Array,
    expected: Uint8Array | undefined,
  ): Promise<boolean> {
    // One upsert cannot touch a row twice: of a channel given twice, the last wins, as before.
    const last = [...new Map(rows.map((r) => [`${r.payer}\n${r.agent}`, r])).values()];
    const r = await this.#pool.query<{ moved: boolean }>(WRITE, [
      worker,
      Buffer.from(head),
      expected === undefined ? null : Buffer.from(expected),
      ...COLUMNS.map((c) =>
        last.map((row) => (c === "mac" ? (row.mac ? Buffer.from(row.mac) : null) : row[c])),
      ),
    ]);
    return r.rows[0]?.moved === true;
  }

  /** For tests that play the host: the pool. */
  get pool(): pg.Pool {
    return this.#pool;
  }

  async close(): Promise<void> {
    if (this.#owned) await this.#pool.end();
  }
}
