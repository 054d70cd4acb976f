// PostgreSQL for the tests. `npm test` (scripts/run-tests.mjs) starts one server for the whole
// run and names it in VEIL_TEST_POSTGRES; a test file run alone starts its own. Each call of
// `testDatabase` makes a new, empty database on it, so test files never meet.
import { randomBytes } from "node:crypto";
import pg from "pg";
import { type PostgresServer, startPostgres } from "../../scripts/postgres-cluster.mjs";

let own: Promise<PostgresServer> | undefined;

/** The server's URL (to its `postgres` database, as superuser). */
export async function postgresServerUrl(): Promise<string> {
  const shared = process.env.VEIL_TEST_POSTGRES;
  if (shared) return shared;
  own ??= startPostgres();
  return (await own).url;
}

/** A new empty database; its URL. */
export async function testDatabase(prefix = "veil_test"): Promise<string> {
  const server = await postgresServerUrl();
  const name = `${prefix}_${randomBytes(6).toString("hex")}`;
  const client = new pg.Client(server);
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
  const url = new URL(server);
  url.pathname = `/${name}`;
  return url.toString();
}

/** Stops the server this file started, if it started one. */
export async function stopOwnPostgres(): Promise<void> {
  if (own) await (await own).stop();
}
