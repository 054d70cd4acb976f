import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { copyFileSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import Database from "better-sqlite3";
import type { Hex } from "viem";
import { FileStateAnchor } from "../../src/storage/state-versions.ts";
import { FeeLedger } from "../../src/worker/fees.ts";

// The operator's host holds the fee ledger's file. Played back, the worker would quote payers
// from channel states long passed and claim from stale records; edited, it would keep a voucher
// no payer signed. Each attack is what that host can do to the file; each is refused.
describe("fee ledger rollback protection", () => {
  const dir = mkdtempSync(join(tmpdir(), "veil-fee-rollback-"));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const worker = "0x00000000000000000000000000000000000000a1" as Hex;
  const payer = "0x00000000000000000000000000000000000000b2" as Hex;
  const key = randomBytes(32);
  const anchorKey = randomBytes(32);
  let files = 0;
  const fresh = () => {
    const path = join(dir, `fees-${files++}.sqlite`);
    const open = () =>
      FeeLedger.open(path, worker, { key, anchor: new FileStateAnchor(`${path}.anchor.json`, anchorKey) });
    return { path, open };
  };
  const price = 10n;
  /** One more paid call on channel (payer, agent): the next cumulative voucher, accepted. */
  const pay = async (ledger: FeeLedger, agentId: bigint) => {
    const now = (await ledger.channel(payer, agentId)) ?? { calls: 0n, amount: 0n };
    if (!(await ledger.channel(payer, agentId))) await ledger.open(payer, agentId, { calls: 0n, amount: 0n });
    const sig = `0x${randomBytes(32).toString("hex")}` as Hex;
    assert.equal(
      await ledger.accept(
        { payer, agentId, calls: now.calls + 1n, amount: now.amount + price, r: sig, vs: sig },
        now,
      ),
      true,
    );
  };
  const rollback = { code: "STATE_ROLLBACK_DETECTED" };
  const copyDb = (from: string, to: string) => {
    for (const f of ["", "-wal", "-shm"]) {
      rmSync(`${to}${f}`, { force: true });
      try {
        copyFileSync(`${from}${f}`, `${to}${f}`);
      } catch {
        // no WAL after a clean close
      }
    }
  };

  test("a ledger reopened as it was left goes on where it was", async () => {
    const { open } = fresh();
    let ledger = await open();
    for (let i = 0; i < 3; i++) await pay(ledger, 1n);
    await ledger.close();
    ledger = await open();
    assert.deepEqual(await ledger.channel(payer, 1n), { calls: 3n, amount: 30n, claimedAmount: 0n });
    await pay(ledger, 1n);
    assert.equal((await ledger.stats()).pendingAmount, 40n);
    await ledger.close();
  });

  test("an older copy of a channel's row put back is refused, by the running worker and a restarted one", async () => {
    const { path, open } = fresh();
    const ledger = await open();
    await pay(ledger, 2n);
    const host = new Database(path);
    const old = host.prepare("SELECT * FROM fee_channels").get() as Record<string, unknown>;
    await pay(ledger, 2n);
    await pay(ledger, 2n);
    host
      .prepare("UPDATE fee_channels SET calls = ?, amount = ?, r = ?, vs = ?, version = ?, mac = ?")
      .run(old.calls, old.amount, old.r, old.vs, old.version, old.mac);
    host.close();
    await assert.rejects(ledger.channel(payer, 2n), rollback);
    await assert.rejects(ledger.pending(10), rollback);
    await ledger.close();
    await assert.rejects(open, rollback);
  });

  test("the whole file restored from an older copy is refused at start", async () => {
    const { path, open } = fresh();
    let ledger = await open();
    await pay(ledger, 3n);
    await ledger.close();
    copyDb(path, `${path}.backup`);
    ledger = await open();
    for (let i = 0; i < 5; i++) await pay(ledger, 3n);
    await ledger.close();
    copyDb(`${path}.backup`, path);
    // The copy is consistent in itself: only the anchor outside the file tells that it is old.
    await assert.rejects(open, (err: Error & { code?: string }) => {
      assert.equal(err.code, "STATE_ROLLBACK_DETECTED");
      assert.match(err.message, /fee ledger/);
      return true;
    });
  });

  test("a removed channel, an edited amount and a row added by the host are each refused", async () => {
    const { path, open } = fresh();
    const ledger = await open();
    await pay(ledger, 4n);
    await pay(ledger, 5n);
    const host = new Database(path);
    host.prepare("UPDATE fee_channels SET amount = '999999' WHERE agent = '4'").run();
    await assert.rejects(ledger.channel(payer, 4n), { code: "STATE_CORRUPT" });
    host.prepare("DELETE FROM fee_channels WHERE agent = '5'").run();
    await assert.rejects(ledger.channel(payer, 5n), rollback);
    host.close();
    await ledger.close();

    const second = fresh();
    const l2 = await second.open();
    await pay(l2, 6n);
    const h2 = new Database(second.path);
    const row = h2.prepare("SELECT * FROM fee_channels").get() as Record<string, unknown>;
    h2.prepare(
      "INSERT INTO fee_channels (worker, payer, agent, calls, amount, r, vs, claimed_calls, claimed_amount, dropped, shortfall, version, mac) VALUES (@worker, @payer, '7', @calls, @amount, @r, @vs, @claimed_calls, @claimed_amount, @dropped, @shortfall, @version, @mac)",
    ).run(row);
    h2.close();
    await assert.rejects(l2.stats(), rollback);
    await l2.close();
  });

  test("a ledger written before rows were versioned is taken over once, then guarded", async () => {
    const path = join(dir, "legacy.sqlite");
    const legacy = new Database(path);
    legacy.exec(`CREATE TABLE fee_channels (worker TEXT NOT NULL, payer TEXT NOT NULL, agent TEXT NOT NULL,
      calls TEXT NOT NULL, amount TEXT NOT NULL, r TEXT, vs TEXT, claimed_calls TEXT NOT NULL,
      claimed_amount TEXT NOT NULL, dropped INTEGER NOT NULL DEFAULT 0, shortfall INTEGER NOT NULL DEFAULT 0,
      PRIMARY KEY (worker, payer, agent)) WITHOUT ROWID`);
    legacy
      .prepare("INSERT INTO fee_channels VALUES (?, ?, '8', '4', '40', '0x01', '0x02', '1', '10', 0, 0)")
      .run(worker, payer);
    legacy.close();
    const open = () =>
      FeeLedger.open(path, worker, { key, anchor: new FileStateAnchor(`${path}.anchor.json`, anchorKey) });
    const ledger = await open();
    assert.deepEqual(await ledger.channel(payer, 8n), { calls: 4n, amount: 40n, claimedAmount: 10n });
    assert.equal((await ledger.pending(10)).length, 1);
    await ledger.close();
    const host = new Database(path);
    host.prepare("UPDATE fee_channels SET version = NULL").run();
    host.close();
    await assert.rejects(open, rollback);
  });

  test("a damaged file is an error that names it, never a fresh ledger", async () => {
    const { path, open } = fresh();
    const ledger = await open();
    for (let a = 10n; a < 400n; a++) await pay(ledger, a);
    await ledger.close();
    truncateSync(path, 8192);
    const named = (err: Error & { code?: string }) => {
      assert.equal(err.code, "STORE_CORRUPT");
      assert.ok(err.message.includes(path), err.message);
      assert.match(err.message, /fee ledger/i);
      return true;
    };
    await assert.rejects(open, named);
    writeFileSync(path, "not a database at all, just some bytes a disk could hold ".repeat(20));
    await assert.rejects(open, named);
  });
});
