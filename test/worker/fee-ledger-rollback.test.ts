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
      new FeeLedger(path, worker, { key, anchor: new FileStateAnchor(`${path}.anchor.json`, anchorKey) });
    return { path, open };
  };
  const price = 10n;
  /** One more paid call on channel (payer, agent): the next cumulative voucher, accepted. */
  const pay = (ledger: FeeLedger, agentId: bigint) => {
    const now = ledger.channel(payer, agentId) ?? { calls: 0n, amount: 0n };
    if (!ledger.channel(payer, agentId)) ledger.open(payer, agentId, { calls: 0n, amount: 0n });
    const sig = `0x${randomBytes(32).toString("hex")}` as Hex;
    assert.equal(
      ledger.accept(
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

  test("a ledger reopened as it was left goes on where it was", () => {
    const { open } = fresh();
    let ledger = open();
    for (let i = 0; i < 3; i++) pay(ledger, 1n);
    ledger.close();
    ledger = open();
    assert.deepEqual(ledger.channel(payer, 1n), { calls: 3n, amount: 30n, claimedAmount: 0n });
    pay(ledger, 1n);
    assert.equal(ledger.stats().pendingAmount, 40n);
    ledger.close();
  });

  test("an older copy of a channel's row put back is refused, by the running worker and a restarted one", () => {
    const { path, open } = fresh();
    const ledger = open();
    pay(ledger, 2n);
    const host = new Database(path);
    const old = host.prepare("SELECT * FROM fee_channels").get() as Record<string, unknown>;
    pay(ledger, 2n);
    pay(ledger, 2n);
    host
      .prepare("UPDATE fee_channels SET calls = ?, amount = ?, r = ?, vs = ?, version = ?, mac = ?")
      .run(old.calls, old.amount, old.r, old.vs, old.version, old.mac);
    host.close();
    assert.throws(() => ledger.channel(payer, 2n), rollback);
    assert.throws(() => ledger.pending(10), rollback);
    ledger.close();
    assert.throws(open, rollback);
  });

  test("the whole file restored from an older copy is refused at start", () => {
    const { path, open } = fresh();
    let ledger = open();
    pay(ledger, 3n);
    ledger.close();
    copyDb(path, `${path}.backup`);
    ledger = open();
    for (let i = 0; i < 5; i++) pay(ledger, 3n);
    ledger.close();
    copyDb(`${path}.backup`, path);
    // The copy is consistent in itself: only the anchor outside the file tells that it is old.
    assert.throws(open, (err: Error & { code?: string }) => {
      assert.equal(err.code, "STATE_ROLLBACK_DETECTED");
      assert.match(err.message, /fee ledger/);
      return true;
    });
  });

  test("a removed channel, an edited amount and a row added by the host are each refused", () => {
    const { path, open } = fresh();
    const ledger = open();
    pay(ledger, 4n);
    pay(ledger, 5n);
    const host = new Database(path);
    host.prepare("UPDATE fee_channels SET amount = '999999' WHERE agent = '4'").run();
    assert.throws(() => ledger.channel(payer, 4n), { code: "STATE_CORRUPT" });
    host.prepare("DELETE FROM fee_channels WHERE agent = '5'").run();
    assert.throws(() => ledger.channel(payer, 5n), rollback);
    host.close();
    ledger.close();

    const second = fresh();
    const l2 = second.open();
    pay(l2, 6n);
    const h2 = new Database(second.path);
    const row = h2.prepare("SELECT * FROM fee_channels").get() as Record<string, unknown>;
    h2.prepare(
      "INSERT INTO fee_channels (worker, payer, agent, calls, amount, r, vs, claimed_calls, claimed_amount, dropped, shortfall, version, mac) VALUES (@worker, @payer, '7', @calls, @amount, @r, @vs, @claimed_calls, @claimed_amount, @dropped, @shortfall, @version, @mac)",
    ).run(row);
    h2.close();
    assert.throws(() => l2.stats(), rollback);
    l2.close();
  });

  test("a ledger written before rows were versioned is taken over once, then guarded", () => {
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
      new FeeLedger(path, worker, { key, anchor: new FileStateAnchor(`${path}.anchor.json`, anchorKey) });
    const ledger = open();
    assert.deepEqual(ledger.channel(payer, 8n), { calls: 4n, amount: 40n, claimedAmount: 10n });
    assert.equal(ledger.pending(10).length, 1);
    ledger.close();
    const host = new Database(path);
    host.prepare("UPDATE fee_channels SET version = NULL").run();
    host.close();
    assert.throws(open, rollback);
  });

  test("a damaged file is an error that names it, never a fresh ledger", () => {
    const { path, open } = fresh();
    const ledger = open();
    for (let a = 10n; a < 400n; a++) pay(ledger, a);
    ledger.close();
    truncateSync(path, 8192);
    const named = (err: Error & { code?: string }) => {
      assert.equal(err.code, "STORE_CORRUPT");
      assert.ok(err.message.includes(path), err.message);
      assert.match(err.message, /fee ledger/i);
      return true;
    };
    assert.throws(open, named);
    writeFileSync(path, "not a database at all, just some bytes a disk could hold ".repeat(20));
    assert.throws(open, named);
  });
});
