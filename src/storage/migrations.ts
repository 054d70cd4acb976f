import type Database from "better-sqlite3";
import type pg from "pg";
import { inTransaction, openPostgres } from "./postgres.ts";

/**
 * One step of a store's schema. Steps run in order, once, when a store opens (each in its own
 * transaction); `veil_schema` records the last one a database has. Version 1 is the schema as
 * the first release made it (tables created if missing), so a database from before versions
 * were recorded is taken up from there.
 */
export type Migration = { version: number; sql: string };

const SCHEMA_TABLE = `CREATE TABLE IF NOT EXISTS veil_schema (
  component TEXT NOT NULL PRIMARY KEY,
  version INTEGER NOT NULL
)`;

/** Brings `component`'s tables in a SQLite file up to the last migration. */
export function migrateSqlite(db: Database.Database, component: string, steps: readonly Migration[]): void {
  db.exec(SCHEMA_TABLE);
  db.transaction(() => {
    const row = db.prepare("SELECT version FROM veil_schema WHERE component = ?").get(component) as
      | { version: number }
      | undefined;
    const at = row?.version ?? 0;
    for (const step of steps) {
      if (step.version <= at) continue;
      db.exec(step.sql);
      db.prepare(
        "INSERT INTO veil_schema (component, version) VALUES (?, ?) ON CONFLICT (component) DO UPDATE SET version = excluded.version",
      ).run(component, step.version);
    }
  }).immediate();
}

/**
 * Brings `component`'s tables in a PostgreSQL database up to the last migration. Workers
 * starting together take turns (an advisory lock), so each step runs once.
 */
export async function migratePostgres(
  pool: pg.Pool,
  component: string,
  steps: readonly Migration[],
): Promise<void> {
  await inTransaction(pool, async (client) => {
    await client.query("SELECT pg_advisory_xact_lock(hashtextextended('veil_schema', 0))");
    await client.query(SCHEMA_TABLE);
    const r = await client.query<{ version: number }>(
      "SELECT version FROM veil_schema WHERE component = $1",
      [component],
    );
    const at = r.rows[0]?.version ?? 0;
    for (const step of steps) {
      if (step.version <= at) continue;
      await client.query(step.sql);
      await client.query(
        "INSERT INTO veil_schema (component, version) VALUES ($1, $2) ON CONFLICT (component) DO UPDATE SET version = excluded.version",
        [component, step.version],
      );
    }
  });
}

/**
 * A pool on which `component`'s schema is up to date. Given a pool (the stores of one worker
 * share one; its opener ends it), that pool; given a URL, a pool of its own (`owned`: the
 * store ends it), closed again if the migration fails.
 */
export async function migratedPool(
  source: string | pg.Pool,
  what: string,
  component: string,
  steps: readonly Migration[],
  namespace?: string,
): Promise<{ pool: pg.Pool; owned: boolean }> {
  if (typeof source !== "string") {
    await migratePostgres(source, component, steps);
    return { pool: source, owned: false };
  }
  const pool = await openPostgres(source, what, namespace);
  try {
    await migratePostgres(pool, component, steps);
  } catch (err) {
    await pool.end().catch(() => {});
    throw err;
  }
  return { pool, owned: true };
}
