// Callers' request budgets shared by every gateway of a network (issue 17): a token bucket per
// caller in the PostgreSQL database the network's stores use. Each gateway takes tokens in small
// leases (gateway/rate-limit.ts), so the database sees one call per lease, not per request, and
// the gateways together never admit more than one bucket allows.
import type pg from "pg";
import { type Migration, migratedPool } from "./migrations.ts";

export type BucketLimit = { perSecond: number; burst: number };

/** Token buckets by key that several processes take from. */
export interface RateBuckets {
  /**
   * Takes up to `want` whole tokens from `key`'s bucket, refilled to `now`; answers how many it
   * got (0 when the bucket is empty). A bucket not seen before starts full.
   */
  take(key: string, want: number, limit: BucketLimit, nowMs: number): Promise<number>;
  close(): Promise<void>;
}

// One call takes tokens: the refill and the take happen under the row's lock, so two gateways
// taking at once each see the other's take.
const STEPS: readonly Migration[] = [
  {
    version: 1,
    sql: `
CREATE TABLE IF NOT EXISTS rate_buckets (
  key TEXT NOT NULL PRIMARY KEY,
  tokens DOUBLE PRECISION NOT NULL,
  at BIGINT NOT NULL
);
CREATE OR REPLACE FUNCTION veil_rate_take(k TEXT, want INTEGER, burst DOUBLE PRECISION, per_second DOUBLE PRECISION, now_ms BIGINT)
RETURNS INTEGER LANGUAGE plpgsql AS $$
DECLARE
  have DOUBLE PRECISION;
  got INTEGER;
BEGIN
  INSERT INTO rate_buckets (key, tokens, at) VALUES (k, burst, now_ms) ON CONFLICT (key) DO NOTHING;
  SELECT LEAST(burst, tokens + GREATEST(0, now_ms - at) / 1000.0 * per_second) INTO have
    FROM rate_buckets WHERE key = k FOR UPDATE;
  got := LEAST(want, FLOOR(have))::INTEGER;
  UPDATE rate_buckets SET tokens = have - got, at = GREATEST(at, now_ms) WHERE key = k;
  RETURN got;
END $$;`,
  },
];

/** Buckets untouched this long are full again anyway: their rows are dropped now and then. */
const IDLE_MS = 10 * 60_000;

export class PostgresRateBuckets implements RateBuckets {
  readonly #pool: pg.Pool;
  readonly #owned: boolean;
  #takes = 0;

  private constructor(pool: pg.Pool, owned: boolean) {
    this.#pool = pool;
    this.#owned = owned;
  }

  /** From a URL (its own pool) or a pool shared with the process's other stores. */
  static async open(source: string | pg.Pool, namespace?: string): Promise<PostgresRateBuckets> {
    const { pool, owned } = await migratedPool(source, "the rate limit store", "rate", STEPS, namespace);
    return new PostgresRateBuckets(pool, owned);
  }

  async take(key: string, want: number, limit: BucketLimit, nowMs: number): Promise<number> {
    if (++this.#takes % 1024 === 0)
      await this.#pool.query("DELETE FROM rate_buckets WHERE at < $1", [nowMs - IDLE_MS]);
    const r = await this.#pool.query<{ got: number }>("SELECT veil_rate_take($1, $2, $3, $4, $5) AS got", [
      key,
      Math.max(0, Math.floor(want)),
      limit.burst,
      limit.perSecond,
      Math.floor(nowMs),
    ]);
    return r.rows[0]?.got ?? 0;
  }

  async close(): Promise<void> {
    if (this.#owned) await this.#pool.end();
  }
}
