import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import pg from "pg";
import { type FeeRow, PostgresFeeStore } from "../../src/storage/fee-store.ts";
import { stopOwnPostgres, testDatabase } from "../helpers/postgres.ts";

// The PostgreSQL fee store's write is one statement (docs/adr/0024): one round trip to the
// database per fee entry, compare-and-set on the worker's head, all of it or none of it landed.
after(stopOwnPostgres);

/** Every query any connection of the pool sends, counted (BEGIN and COMMIT included). */
class CountingClient extends pg.Client {
  static queries = 0;
  constructor(config?: string | pg.ClientConfig) {
    super(config);
    const query = this.query.bind(this) as (...args: unknown[]) => unknown;
    this.query = ((...args: unknown[]) => {
      CountingClient.queries++;
      return query(...args);
    }) as pg.Client["query"];
  }
}

const worker = "0x00000000000000000000000000000000000000a1";
const row = (payer: string, agent: string, calls: number): FeeRow => ({
  payer,
  agent,
  calls: String(calls),
  amount: String(calls * 10),
  r: null,
  vs: calls % 2 ? `0x${"cd".repeat(32)}` : null,
  claimed_calls: "0",
  claimed_amount: "0",
  dropped: 0,
  shortfall: calls % 3,
  version: String(calls),
  mac: calls % 2 ? new Uint8Array([calls, 1, 2, 3]) : null,
});
const head = (n: number) => new Uint8Array(Buffer.from(`head-${n}`));

describe("the fee ledger's PostgreSQL store", () => {
  test("a fee write is one round trip: one statement, whether it lands or its head moved", async () => {
    const pool = new pg.Pool({ connectionString: await testDatabase(), Client: CountingClient });
    const store = await PostgresFeeStore.open(pool);
    try {
      const writes: [FeeRow[], Uint8Array, Uint8Array | undefined, boolean][] = [
        [[row("0xb1", "1", 1)], head(1), undefined, true],
        // Three channels and the head at once.
        [[row("0xb1", "1", 2), row("0xb2", "1", 1), row("0xb1", "2", 1)], head(2), head(1), true],
        // A writer behind the head: refused, nothing written.
        [[row("0xb1", "1", 9)], head(9), head(1), false],
        [[row("0xb1", "1", 9)], head(9), undefined, false],
        [[row("0xb1", "1", 3)], head(3), head(2), true],
      ];
      for (const [rows, next, expected, lands] of writes) {
        CountingClient.queries = 0;
        assert.equal(await store.write(worker, rows, next, expected), lands);
        assert.equal(CountingClient.queries, 1, `${CountingClient.queries} queries for one write`);
      }
      const snap = await store.snapshot(worker);
      assert.deepEqual(snap.head, head(3));
      const byKey = Object.fromEntries(snap.rows.map((r) => [`${r.payer}/${r.agent}`, r]));
      assert.deepEqual(byKey["0xb1/1"], row("0xb1", "1", 3));
      assert.deepEqual(byKey["0xb2/1"], row("0xb2", "1", 1));
      assert.deepEqual(byKey["0xb1/2"], row("0xb1", "2", 1));
      assert.equal(snap.rows.length, 3);
      // A head expected where there is none is refused too.
      assert.equal(
        await store.write("0x00000000000000000000000000000000000000a2", [], head(1), head(0)),
        false,
      );
      assert.equal((await store.snapshot("0x00000000000000000000000000000000000000a2")).head, undefined);
    } finally {
      await store.close();
      await pool.end();
    }
  });

  test("of concurrent writes from one expected head, on separate connections, exactly one lands", async () => {
    const url = await testDatabase();
    const stores = await Promise.all(Array.from({ length: 4 }, () => PostgresFeeStore.open(url)));
    try {
      let expected: Uint8Array | undefined;
      for (let n = 1; n <= 6; n++) {
        const won = await Promise.all(
          stores.map((s, i) => s.write(worker, [row("0xb1", "1", n * 10 + i)], head(n * 10 + i), expected)),
        );
        assert.equal(won.filter(Boolean).length, 1, `round ${n}: ${won}`);
        const i = won.indexOf(true);
        expected = head(n * 10 + i);
        const snap = await stores[0]!.snapshot(worker);
        assert.deepEqual(snap.head, expected);
        assert.deepEqual(snap.rows, [row("0xb1", "1", n * 10 + i)]);
      }
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });

  test("a writer killed (kill -9) mid-stream loses no acknowledged write and leaves none half-written", async () => {
    const url = await testDatabase();
    await (await PostgresFeeStore.open(url)).close();
    const child = spawn(
      process.execPath,
      ["--import", "tsx", join(import.meta.dirname, "..", "helpers", "fee-store-writer.ts"), url, worker],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    let out = "";
    const acked = () =>
      Number(
        out
          .match(/ACK (\d+)\n/g)
          ?.at(-1)
          ?.slice(4) ?? 0,
      );
    const exited = new Promise((r) => child.once("exit", r));
    await new Promise<void>((resolve, reject) => {
      child.once("exit", (code) => reject(new Error(`the writer exited (${code}) before it was killed`)));
      child.stdout.on("data", (c: Buffer) => {
        out += c.toString();
        // Killed once well under way: whatever it was writing then is cut.
        if (acked() >= 60) resolve();
      });
    });
    child.kill("SIGKILL");
    await exited;
    const acknowledged = acked();
    const store = await PostgresFeeStore.open(url);
    try {
      const snap = await store.snapshot(worker);
      const at = Number(Buffer.from(snap.head!).toString().slice("head-".length));
      console.error(`${acknowledged} writes acknowledged before kill -9, the head at ${at} after`);
      assert.ok(at >= acknowledged, `head ${at} < ${acknowledged} acknowledged`);
      // A write cut by the kill may have landed (its ACK not printed): never more than one.
      assert.ok(at <= acknowledged + 1, `head ${at}, ${acknowledged} acknowledged`);
      // Each write moved three channels with the head: all three are at the head's write.
      assert.deepEqual(
        snap.rows.map((r) => r.calls),
        [String(at), String(at), String(at)],
      );
    } finally {
      await store.close();
    }
  });
});
