import { type FeeStore, PostgresFeeStore } from "./fee-store.ts";
import { type LogStore, PostgresLogStore, SqliteLogStore } from "./log-store.ts";
import { type NonceSpace, PostgresNonceSpace, SqliteNonceSpace } from "./nonce-space.ts";
import { isPostgresUrl, openPostgres, redactUrl } from "./postgres.ts";
import { PostgresStateStore } from "./postgres-state-store.ts";
import { SqliteStateStore, type StateStore } from "./state-store.ts";
import type { StateAnchor } from "./state-versions.ts";

/** What the workers serving an agent share: its state, the nonces they answered, its logs (and fees). */
export type SharedStores = {
  state: StateStore;
  nonces: NonceSpace;
  logs: LogStore;
  /**
   * Workers' fee ledgers, in PostgreSQL (keyed by worker). Undefined with SQLite: each worker
   * keeps its own in its data directory (`fees.sqlite`), as before.
   */
  fees?: FeeStore;
  /** Where they are, for messages: the SQLite file, or the database URL without its password. */
  where: string;
  kind: "sqlite" | "postgres";
  close(): Promise<void>;
};

/**
 * Opens the shared stores named by `spec` (`veil worker --state`): a `postgres://` or
 * `postgresql://` URL, for workers on several hosts, or the path of a SQLite file, which the
 * workers of one machine share. A database that cannot be reached fails here, at start.
 */
export async function openSharedStores(
  spec: string,
  options: { anchor?: StateAnchor; namespace?: string } = {},
): Promise<SharedStores> {
  if (isPostgresUrl(spec)) {
    // One pool for the three: one connection check and one schema for the worker, not three.
    const pool = await openPostgres(spec, "the state store", options.namespace);
    try {
      const state = await PostgresStateStore.open(pool, options.anchor ? { anchor: options.anchor } : {});
      const nonces = await PostgresNonceSpace.open(pool);
      const logs = await PostgresLogStore.open(pool);
      const fees = await PostgresFeeStore.open(pool);
      return { state, nonces, logs, fees, where: redactUrl(spec), kind: "postgres", close: () => pool.end() };
    } catch (err) {
      await pool.end().catch(() => {});
      throw err;
    }
  }
  const state = new SqliteStateStore(spec, options.anchor ? { anchor: options.anchor } : {});
  const nonces = new SqliteNonceSpace(spec);
  const logs = new SqliteLogStore(spec);
  return { state, nonces, logs, where: spec, kind: "sqlite", close: () => closeAll([state, nonces, logs]) };
}

async function closeAll(stores: readonly { close(): Promise<void> }[]): Promise<void> {
  await Promise.allSettled(stores.map((s) => s.close()));
}
