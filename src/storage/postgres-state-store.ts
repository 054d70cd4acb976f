import type pg from "pg";
import { versionOfValue } from "../crypto/index.ts";
import { type Migration, migratedPool } from "./migrations.ts";
import { inTransaction } from "./postgres.ts";
import type { RowVersion, RowWrite, StateStore, VersionedWrite } from "./state-store.ts";
import { type StateAnchor, StateVersions } from "./state-versions.ts";

const STATE_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    sql: `CREATE TABLE IF NOT EXISTS agent_state (
      agent TEXT NOT NULL,
      row TEXT NOT NULL,
      value BYTEA NOT NULL,
      size INTEGER NOT NULL,
      PRIMARY KEY (agent, row)
    );
    CREATE TABLE IF NOT EXISTS agent_heads (
      agent TEXT NOT NULL PRIMARY KEY,
      head BYTEA NOT NULL
    )`,
  },
  {
    version: 2,
    sql: `CREATE TABLE IF NOT EXISTS agent_epochs (
      agent TEXT NOT NULL PRIMARY KEY,
      epoch BIGINT NOT NULL
    )`,
  },
  {
    // A write in one round trip: the statement is its own transaction, the lock is the agent's
    // for that transaction, and the quota's exception rolls back the rows written before it.
    version: 3,
    sql: `CREATE OR REPLACE FUNCTION veil_state_write(
      p_agent TEXT, p_rows TEXT[], p_values BYTEA[], p_expected BYTEA, p_next BYTEA,
      p_max_bytes BIGINT, p_max_rows BIGINT, p_epoch BIGINT) RETURNS TEXT AS $fn$
    DECLARE
      current_head BYTEA;
      floor_epoch BIGINT;
      used_bytes BIGINT;
      used_rows BIGINT;
      any_put BOOLEAN := false;
    BEGIN
      PERFORM pg_advisory_xact_lock(hashtextextended('veil/state/' || p_agent, 0));
      SELECT head INTO current_head FROM agent_heads WHERE agent = p_agent;
      IF current_head IS DISTINCT FROM p_expected THEN RETURN 'head-moved'; END IF;
      SELECT epoch INTO floor_epoch FROM agent_epochs WHERE agent = p_agent;
      IF floor_epoch IS NOT NULL AND p_epoch < floor_epoch THEN RETURN 'epoch-moved'; END IF;
      FOR i IN 1 .. coalesce(array_length(p_rows, 1), 0) LOOP
        IF p_values[i] IS NULL THEN
          DELETE FROM agent_state WHERE agent = p_agent AND row = p_rows[i];
        ELSE
          any_put := true;
          INSERT INTO agent_state (agent, row, value, size)
            VALUES (p_agent, p_rows[i], p_values[i], length(p_values[i]))
            ON CONFLICT (agent, row) DO UPDATE SET value = excluded.value, size = excluded.size;
        END IF;
      END LOOP;
      IF any_put THEN
        SELECT coalesce(sum(size), 0), count(*) INTO used_bytes, used_rows
          FROM agent_state WHERE agent = p_agent;
        IF used_bytes > p_max_bytes OR used_rows > p_max_rows THEN
          RAISE EXCEPTION USING ERRCODE = 'VQ001', MESSAGE = 'over-quota';
        END IF;
      END IF;
      INSERT INTO agent_heads (agent, head) VALUES (p_agent, p_next)
        ON CONFLICT (agent) DO UPDATE SET head = excluded.head;
      RETURN 'written';
    END
    $fn$ LANGUAGE plpgsql`,
  },
];

/** The SQLSTATE veil_state_write raises when a write would exceed the agent's quota. */
const OVER_QUOTA = "VQ001";

/** The bytes of a sealed value that carry its epoch and write version (see versionOfValue). */
const VERSION_PREFIX_BYTES = 17;

const bytes = (b: Buffer | null | undefined) => (b ? new Uint8Array(b) : undefined);

/**
 * Agents' state rows in PostgreSQL, shared by workers on any number of hosts. A row is read with
 * its head in one statement (one snapshot); a write is one call of `veil_state_write`, which takes
 * the agent's advisory lock for its transaction, so the writes of one agent (and a rotation's
 * rewrite, under the same lock) take turns on every host while other agents' run side by side.
 */
export class PostgresStateStore implements StateStore {
  readonly #pool: pg.Pool;
  readonly versions: StateVersions;

  /** Whether this store opened its pool (and so ends it), or was given a shared one. */
  readonly #owned: boolean;

  private constructor(pool: pg.Pool, owned: boolean, anchor: StateAnchor | undefined) {
    this.#pool = pool;
    this.#owned = owned;
    this.versions = new StateVersions(anchor);
  }

  /** Connects (STORE_UNREACHABLE if it cannot) and brings the schema up to date. */
  static async open(
    source: string | pg.Pool,
    options: { anchor?: StateAnchor; namespace?: string } = {},
  ): Promise<PostgresStateStore> {
    const { pool, owned } = await migratedPool(
      source,
      "the state store",
      "state",
      STATE_MIGRATIONS,
      options.namespace,
    );
    return new PostgresStateStore(pool, owned, options.anchor);
  }

  async read(agent: string, row: string) {
    const r = await this.#pool.query<{ value: Buffer | null; head: Buffer | null }>(
      `SELECT (SELECT value FROM agent_state WHERE agent = $1 AND row = $2) AS value,
              (SELECT head FROM agent_heads WHERE agent = $1) AS head`,
      [agent, row],
    );
    return { value: bytes(r.rows[0]?.value), head: bytes(r.rows[0]?.head) };
  }

  async head(agent: string) {
    const r = await this.#pool.query<{ head: Buffer }>("SELECT head FROM agent_heads WHERE agent = $1", [
      agent,
    ]);
    return bytes(r.rows[0]?.head);
  }

  async snapshot(agent: string): Promise<{ head: Uint8Array | undefined; rows: RowVersion[] }> {
    const r = await this.#pool.query<{ head: Buffer | null; rows: string[]; prefixes: Buffer[] }>(
      `SELECT (SELECT head FROM agent_heads WHERE agent = $1) AS head,
              ARRAY(SELECT row FROM agent_state WHERE agent = $1 ORDER BY row) AS rows,
              ARRAY(SELECT substring(value FROM 1 FOR ${VERSION_PREFIX_BYTES}) FROM agent_state WHERE agent = $1 ORDER BY row) AS prefixes`,
      [agent],
    );
    const first = r.rows[0];
    const rows = (first?.rows ?? []).map((row, i) => ({
      row,
      version: versionOfValue(new Uint8Array(first?.prefixes[i] ?? Buffer.alloc(0))),
    }));
    return { head: bytes(first?.head), rows };
  }

  async rows(agent: string) {
    const r = await this.#pool.query<{ head: Buffer | null; rows: string[]; vals: Buffer[] }>(
      `SELECT (SELECT head FROM agent_heads WHERE agent = $1) AS head,
              ARRAY(SELECT row FROM agent_state WHERE agent = $1 ORDER BY row) AS rows,
              ARRAY(SELECT value FROM agent_state WHERE agent = $1 ORDER BY row) AS vals`,
      [agent],
    );
    const first = r.rows[0];
    const rows = (first?.rows ?? []).map((row, i) => ({ row, value: new Uint8Array(first?.vals[i] ?? []) }));
    return { head: bytes(first?.head), rows };
  }

  async usage(agent: string) {
    const r = await this.#pool.query<{ bytes: string | null; count: string }>(
      "SELECT SUM(size) AS bytes, COUNT(*) AS count FROM agent_state WHERE agent = $1",
      [agent],
    );
    return { bytes: Number(r.rows[0]?.bytes ?? 0), rows: Number(r.rows[0]?.count ?? 0) };
  }

  async write(
    agent: string,
    writes: readonly RowWrite[],
    head: { expected: Uint8Array | undefined; next: Uint8Array },
    quota: { maxBytes: number; maxRows: number },
    epoch: bigint,
  ): Promise<VersionedWrite> {
    try {
      const r = await this.#pool.query<{ outcome: VersionedWrite }>(
        "SELECT veil_state_write($1, $2, $3, $4, $5, $6, $7, $8) AS outcome",
        [
          agent,
          writes.map((w) => w.row),
          writes.map((w) => (w.value === undefined ? null : Buffer.from(w.value))),
          head.expected === undefined ? null : Buffer.from(head.expected),
          Buffer.from(head.next),
          quota.maxBytes,
          quota.maxRows,
          epoch.toString(),
        ],
      );
      const outcome = r.rows[0]?.outcome;
      if (outcome !== "written" && outcome !== "head-moved" && outcome !== "epoch-moved")
        throw new Error(`veil_state_write answered ${String(outcome)}`);
      return outcome;
    } catch (err) {
      if ((err as { code?: string }).code === OVER_QUOTA) return "over-quota";
      throw err;
    }
  }

  async rewrite(
    agent: string,
    epoch: bigint,
    change: (row: string, value: Uint8Array) => Uint8Array | undefined,
  ): Promise<number> {
    return inTransaction(this.#pool, async (c) => {
      await lockAgent(c, agent);
      await c.query(
        `INSERT INTO agent_epochs (agent, epoch) VALUES ($1, $2)
         ON CONFLICT (agent) DO UPDATE SET epoch = GREATEST(agent_epochs.epoch, excluded.epoch)`,
        [agent, epoch.toString()],
      );
      const rows = await c.query<{ row: string; value: Buffer }>(
        "SELECT row, value FROM agent_state WHERE agent = $1",
        [agent],
      );
      let changed = 0;
      for (const r of rows.rows) {
        const next = change(r.row, new Uint8Array(r.value));
        if (next === undefined) continue;
        await c.query("UPDATE agent_state SET value = $3, size = $4 WHERE agent = $1 AND row = $2", [
          agent,
          r.row,
          Buffer.from(next),
          next.length,
        ]);
        changed++;
      }
      return changed;
    });
  }

  async close(): Promise<void> {
    if (this.#owned) await this.#pool.end();
  }
}

/** One agent's writes take turns across every process on the database, for one transaction. */
async function lockAgent(c: pg.PoolClient, agent: string): Promise<void> {
  await c.query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", [`veil/state/${agent}`]);
}
