import { type LogStore, PostgresLogStore, SqliteLogStore } from "./log-store.ts";
import { type NonceSpace, PostgresNonceSpace, SqliteNonceSpace } from "./nonce-space.ts";
import { isPostgresUrl, redactUrl } from "./postgres.ts";
import { PostgresStateStore } from "./postgres-state-store.ts";
import { SqliteStateStore, type StateStore } from "./state-store.ts";
import type { StateAnchor } from "./state-versions.ts";

/** What the workers serving an agent share: its state, the nonces they answered, its logs. */
export type SharedStores = {
  state: StateStore;
  nonces: NonceSpace;
  logs: LogStore;
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
    const { namespace } = options;
    const state = await PostgresStateStore.open(spec, options);
    const opened: { close(): Promise<void> }[] = [state];
    try {
      const nonces = await PostgresNonceSpace.open(spec, namespace);
      opened.push(nonces);
      const logs = await PostgresLogStore.open(spec, namespace !== undefined ? { namespace } : {});
      opened.push(logs);
      return {
        state,
        nonces,
        logs,
        where: redactUrl(spec),
        kind: "postgres",
        close: () => closeAll(opened),
      };
    } catch (err) {
      await closeAll(opened);
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
