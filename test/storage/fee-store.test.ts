import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import Database from "better-sqlite3";
import pg from "pg";
import type { Hex } from "viem";
import { type FeeStore, PostgresFeeStore, SqliteFeeStore } from "../../src/storage/fee-store.ts";
import { FeeLedger, moveFeeLedger } from "../../src/worker/fees.ts";
import { stopOwnPostgres, testDatabase } from "../helpers/postgres.ts";

// A worker's fee ledger (src/worker/fees.ts) behaves the same in its own SQLite file and in the
// network's PostgreSQL (`--state postgres://…`): what it accepts reads back, concurrent accepts of
// one next voucher let one win, the host cannot put an older row back, and a voucher whose accept
// resolved survives the worker killed (kill -9) right after.
const dir = mkdtempSync(join(tmpdir(), "veil-fee-store-"));
after(async () => {
  rmSync(dir, { recursive: true, force: true });
  await stopOwnPostgres();
});

type Backend = {
  name: string;
  /** A new empty store's spec (a file or a URL), a way to open it, and SQL as its host. */
  make(): Promise<{
    spec: string;
    open(): Promise<FeeStore>;
    raw(sql: string, args?: unknown[]): Promise<unknown[]>;
  }>;
};

let files = 0;
const backends: Backend[] = [
  {
    name: "SQLite",
    async make() {
      const spec = join(dir, `fees-${files++}.sqlite`);
      return {
        spec,
        open: async () => new SqliteFeeStore(spec),
        raw: async (sql, args = []) => {
          const db = new Database(spec);
          try {
            const stmt = db.prepare(sql.replace(/\$\d+/g, "?"));
            return stmt.reader ? stmt.all(...args) : [stmt.run(...args)];
          } finally {
            db.close();
          }
        },
      };
    },
  },
  {
    name: "PostgreSQL",
    async make() {
      const spec = await testDatabase();
      return {
        spec,
        open: () => PostgresFeeStore.open(spec),
        raw: async (sql, args = []) => {
          const client = new pg.Client(spec);
          await client.connect();
          try {
            return (await client.query(sql, args)).rows;
          } finally {
            await client.end();
          }
        },
      };
    },
  },
];

const worker = "0x00000000000000000000000000000000000000a1" as Hex;
const payer = "0x00000000000000000000000000000000000000b2" as Hex;
const sig = `0x${"cd".repeat(32)}` as Hex;
const voucher = (agentId: bigint, calls: bigint) => ({
  payer,
  agentId,
  calls,
  amount: calls * 10n,
  r: sig,
  vs: sig,
});

for (const backend of backends) {
  describe(`the fee ledger in ${backend.name}`, () => {
    const key = randomBytes(32);

    test("vouchers accepted, paid and dropped read back; pending and stats agree; reopened it goes on", async () => {
      const made = await backend.make();
      let ledger = await FeeLedger.open(await made.open(), worker, { key });
      await ledger.open(payer, 1n, { calls: 0n, amount: 0n });
      for (let n = 1n; n <= 3n; n++)
        assert.equal(await ledger.accept(voucher(1n, n), { calls: n - 1n, amount: (n - 1n) * 10n }), true);
      await ledger.open(payer, 2n, { calls: 5n, amount: 50n });
      assert.equal(await ledger.accept(voucher(2n, 6n), { calls: 5n, amount: 50n }), true);
      assert.deepEqual(await ledger.channel(payer, 1n), { calls: 3n, amount: 30n, claimedAmount: 0n });
      assert.equal((await ledger.pending(10)).length, 2);
      await ledger.markPaid(voucher(1n, 3n), { calls: 3n, amount: 30n });
      await ledger.drop(voucher(2n, 6n), { calls: 6n, amount: 60n });
      assert.deepEqual(await ledger.pending(10), []);
      await ledger.close();
      ledger = await FeeLedger.open(await made.open(), worker, { key });
      assert.deepEqual(await ledger.stats(), {
        channels: 2,
        pendingCalls: 0n,
        pendingAmount: 0n,
        claimedCalls: 9n,
        claimedAmount: 90n,
        dropped: 1,
      });
      assert.equal(await ledger.accept(voucher(1n, 4n), { calls: 3n, amount: 30n }), true);
      assert.equal((await ledger.stats()).pendingAmount, 10n);
      await ledger.close();
      // The schema's steps are recorded, numbered, beside the other stores'.
      const steps = (await made.raw("SELECT version FROM veil_schema WHERE component = 'fees'")) as {
        version: number;
      }[];
      assert.deepEqual(
        steps.map((s) => Number(s.version)),
        [1],
      );
    });

    test("of concurrent accepts of one next voucher, in one process or two, exactly one wins", async () => {
      const made = await backend.make();
      const a = await FeeLedger.open(await made.open(), worker, { key });
      const b = await FeeLedger.open(await made.open(), worker, { key });
      await a.open(payer, 3n, { calls: 0n, amount: 0n });
      for (let n = 1n; n <= 5n; n++) {
        const previous = { calls: n - 1n, amount: (n - 1n) * 10n };
        const won = await Promise.all([
          a.accept(voucher(3n, n), previous),
          a.accept(voucher(3n, n), previous),
          b.accept(voucher(3n, n), previous),
          b.accept(voucher(3n, n), previous),
        ]);
        assert.equal(won.filter(Boolean).length, 1, `voucher ${n}: ${won}`);
      }
      assert.deepEqual(await b.channel(payer, 3n), { calls: 5n, amount: 50n, claimedAmount: 0n });
      await a.close();
      await b.close();
    });

    test("a channel's row put back to an older copy by the host is refused, running and reopened", async () => {
      const made = await backend.make();
      const ledger = await FeeLedger.open(await made.open(), worker, { key });
      await ledger.open(payer, 4n, { calls: 0n, amount: 0n });
      await ledger.accept(voucher(4n, 1n), { calls: 0n, amount: 0n });
      const [old] = (await made.raw("SELECT calls, amount, version, mac FROM fee_channels")) as Record<
        string,
        unknown
      >[];
      await ledger.accept(voucher(4n, 2n), { calls: 1n, amount: 10n });
      await made.raw("UPDATE fee_channels SET calls = $1, amount = $2, version = $3, mac = $4", [
        old!.calls,
        old!.amount,
        old!.version,
        old!.mac,
      ]);
      const rollback = { code: "STATE_ROLLBACK_DETECTED" };
      await assert.rejects(ledger.channel(payer, 4n), rollback);
      await ledger.close();
      await assert.rejects(async () => FeeLedger.open(await made.open(), worker, { key }), rollback);
    });

    test("every voucher whose accept resolved is there after the worker is killed (kill -9) mid-stream", async () => {
      const made = await backend.make();
      // The schema made before the writer starts, as a worker's start would.
      await (await made.open()).close();
      const child = spawn(
        process.execPath,
        [
          "--import",
          "tsx",
          join(import.meta.dirname, "..", "helpers", "fee-writer.ts"),
          made.spec,
          key.toString("hex"),
          worker,
          payer,
        ],
        { stdio: ["ignore", "pipe", "inherit"] },
      );
      let acknowledged = 0;
      let out = "";
      const exited = new Promise((r) => child.once("exit", r));
      await new Promise<void>((resolve) => {
        child.stdout.on("data", (c: Buffer) => {
          out += c.toString();
          const acks = out.match(/ACK (\d+)\n/g);
          if (acks) acknowledged = Number(acks[acks.length - 1]!.slice(4));
          // Killed once it is well under way: whatever it was writing then is cut.
          if (acknowledged >= 40) resolve();
        });
      });
      child.kill("SIGKILL");
      await exited;
      const acks = out.match(/ACK (\d+)\n/g)!;
      acknowledged = Number(acks[acks.length - 1]!.slice(4));
      const ledger = await FeeLedger.open(await made.open(), worker, { key });
      const channel = await ledger.channel(payer, 1n);
      console.error(
        `${backend.name}: ${acknowledged} acknowledged before kill -9, ${channel?.calls} in the ledger after`,
      );
      assert.ok(
        channel && channel.calls >= BigInt(acknowledged),
        `${channel?.calls} < ${acknowledged} acknowledged`,
      );
      // An accept cut by the kill may have landed (its ACK not printed): never more than one.
      assert.ok(channel.calls <= BigInt(acknowledged) + 1n);
      await ledger.close();
    });
  });
}

test("a ledger in a worker's SQLite file moves to PostgreSQL once, checked, and goes on there", async () => {
  const key = randomBytes(32);
  const [file, database] = [await backends[0]!.make(), await backends[1]!.make()];
  const old = await FeeLedger.open(await file.open(), worker, { key });
  await old.open(payer, 7n, { calls: 0n, amount: 0n });
  await old.accept(voucher(7n, 1n), { calls: 0n, amount: 0n });
  await old.accept(voucher(7n, 2n), { calls: 1n, amount: 10n });
  await old.close();
  const to = await database.open();
  assert.equal(await moveFeeLedger(await file.open(), to, worker, { key }), true);
  // Once there, it is not moved again (the database's may have gone on since).
  assert.equal(await moveFeeLedger(await file.open(), to, worker, { key }), false);
  const moved = await FeeLedger.open(to, worker, { key });
  assert.deepEqual(await moved.channel(payer, 7n), { calls: 2n, amount: 20n, claimedAmount: 0n });
  assert.equal(await moved.accept(voucher(7n, 3n), { calls: 2n, amount: 20n }), true);
  await moved.close();
});
