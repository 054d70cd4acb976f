// Issue 17: two gateways of one network share each caller's budget. Before, each gateway kept
// its own buckets in memory, so a caller who spread its requests over two gateways got twice the
// rate the network allows (the first test shows that from the caller's side).
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { RateLimiter, SharedRateLimiter } from "../../src/gateway/rate-limit.ts";
import { PostgresRateBuckets } from "../../src/storage/rate-buckets.ts";
import { stopOwnPostgres, testDatabase } from "../helpers/postgres.ts";

const limit = { perSecond: 1, burst: 16 };

async function admitted(take: (i: number) => Promise<{ ok: boolean }> | { ok: boolean }, n: number) {
  let ok = 0;
  for (let i = 0; i < n; i++) if ((await take(i)).ok) ok++;
  return ok;
}

describe("callers' budgets shared by a network's gateways", () => {
  const open: PostgresRateBuckets[] = [];
  after(async () => {
    for (const b of open) await b.close();
    await stopOwnPostgres();
  });

  test("with a gateway's own buckets, a caller alternating two gateways gets two budgets", async () => {
    const [a, b] = [new RateLimiter(limit), new RateLimiter(limit)];
    const now = 1_000_000;
    assert.equal(await admitted((i) => (i % 2 ? a : b).take("10.0.0.9", now), 64), 32);
  });

  test("with the network's buckets in PostgreSQL, the two gateways together admit one budget", async () => {
    const url = await testDatabase();
    // Each gateway its own pool, as two processes on two hosts have.
    const one = await PostgresRateBuckets.open(url);
    const two = await PostgresRateBuckets.open(url);
    open.push(one, two);
    const [a, b] = [new SharedRateLimiter(limit, one), new SharedRateLimiter(limit, two)];
    const now = 2_000_000;
    assert.equal(await admitted((i) => (i % 2 ? a : b).take("10.0.0.9", now), 64), 16);
    // Another caller has a budget of its own.
    assert.equal(await admitted((i) => (i % 2 ? a : b).take("10.0.0.10", now), 8), 8);
    // The bucket refills at the rate, for both gateways: 4 s later, 4 more (leases expired).
    assert.equal(await admitted((i) => (i % 2 ? a : b).take("10.0.0.9", now + 4_000), 64), 4);
  });

  test("takes at the same moment from two gateways never admit more than the bucket holds", async () => {
    const url = await testDatabase();
    const one = await PostgresRateBuckets.open(url);
    const two = await PostgresRateBuckets.open(url);
    open.push(one, two);
    const [a, b] = [new SharedRateLimiter(limit, one), new SharedRateLimiter(limit, two)];
    const now = 3_000_000;
    const answers = await Promise.all(
      Array.from({ length: 80 }, (_, i) => (i % 2 ? a : b).take(`caller-${i % 3}`, now)),
    );
    // Three callers, 16 each at most; concurrent takes may leave a lease unused, never overdraw.
    const per = [0, 1, 2].map((c) => answers.filter((r, i) => i % 3 === c && r.ok).length);
    for (const n of per) assert.ok(n <= 16 && n >= 8, `a caller was admitted ${n} times`);
  });

  test("a database that cannot be reached leaves the gateway its own limits, and says so once", async () => {
    const lines: string[] = [];
    const broken = { take: async () => Promise.reject(new Error("connection refused")) };
    const g = new SharedRateLimiter(limit, broken, { log: (m) => lines.push(m) });
    const now = 4_000_000;
    assert.equal(await admitted(() => g.take("10.0.0.9", now), 40), 16);
    assert.equal(lines.length, 1);
    assert.match(lines[0]!, /shared rate limit store failed \(connection refused\)/);
  });
});
