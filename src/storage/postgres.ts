import pg from "pg";
import { VeilError } from "../errors/index.ts";

/**
 * The PostgreSQL schema one network's tables live in, so that networks sharing a database (a
 * fresh dev network after an old one, two test networks) never read each other's rows.
 */
const SCHEMA_NAME = /^veil_[a-z0-9_]{1,40}$/;

/** Drops a network's schema and everything in it (`veil up --fresh` on PostgreSQL). */
export async function dropNamespace(url: string, schema: string): Promise<void> {
  if (!SCHEMA_NAME.test(schema)) return;
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  try {
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  } catch (err) {
    throw unreachable(url, "the state store", err);
  } finally {
    await client.end().catch(() => {});
  }
}

/** Whether a `--state` value names a PostgreSQL database rather than a SQLite file. */
export const isPostgresUrl = (spec: string): boolean => /^postgres(ql)?:\/\//i.test(spec);

/** The URL with its password replaced, for messages and logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return "(an unparsable URL)";
  }
}

/**
 * A connection pool to the database at `url`, checked by one query before it is handed out:
 * a wrong host, port, user or database fails here, at start, as STORE_UNREACHABLE naming the
 * URL (without its password), not on an agent's first request.
 */
export async function openPostgres(url: string, what: string, schema?: string): Promise<pg.Pool> {
  if (schema !== undefined && !SCHEMA_NAME.test(schema)) {
    throw new VeilError("STATE_NAMESPACE_INVALID", `${JSON.stringify(schema)} is not a state namespace`, {
      hint: "A namespace is veil_ followed by up to 40 lowercase letters, digits or underscores.",
    });
  }
  if (schema !== undefined) {
    // The schema is made once, before any pooled connection is told to use it.
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
    try {
      await client.connect();
      await client.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    } catch (err) {
      // Two workers starting at once may both create it: the loser's error is no error.
      if ((err as { code?: string }).code !== "23505") throw unreachable(url, what, err);
    } finally {
      await client.end().catch(() => {});
    }
  }
  const pool = new pg.Pool({
    connectionString: url,
    ...(schema !== undefined ? { options: `-c search_path=${schema}` } : {}),
    max: 16,
    connectionTimeoutMillis: 10_000,
    idleTimeoutMillis: 30_000,
  });
  // An idle connection the server drops (a restart) must not crash the process: the pool
  // reconnects on the next query, which is where a lasting outage shows.
  pool.on("error", () => {});
  // Nor one that dies while a query runs on it: that query fails (and its caller with it).
  pool.on("connect", (client) => client.on("error", () => {}));
  try {
    await pool.query("SELECT 1");
  } catch (err) {
    await pool.end().catch(() => {});
    throw unreachable(url, what, err);
  }
  return pool;
}

export function unreachable(url: string, what: string, cause: unknown): VeilError {
  return new VeilError(
    "STORE_UNREACHABLE",
    `Cannot reach ${what} at ${redactUrl(url)}: ${(cause as Error).message ?? String(cause)}`,
    {
      status: 503,
      retryable: true,
      cause,
      hint: "Check that PostgreSQL is running and that the URL's host, port, user, password and database are right (postgres://USER:PASSWORD@HOST:PORT/DATABASE).",
    },
  );
}

/** Runs `work` in one transaction on one connection of the pool (rolled back if it throws). */
export async function inTransaction<T>(
  pool: pg.Pool,
  work: (client: pg.PoolClient) => Promise<T>,
): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query("BEGIN");
    const result = await work(client);
    await client.query("COMMIT");
    return result;
  } catch (err) {
    await client.query("ROLLBACK").catch(() => {});
    throw err;
  } finally {
    client.release();
  }
}
