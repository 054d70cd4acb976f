import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { copyFileSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import Database from "better-sqlite3";
import { EncryptedAgentState } from "../../src/storage/agent-state.ts";
import { SqliteStateStore } from "../../src/storage/state-store.ts";
import { FileStateAnchor } from "../../src/storage/state-versions.ts";

// The host that runs a worker holds the state store and may play it back (DESIGN: the store is
// hostile). Each attack below is what that host can do to the files; each must be refused with
// STATE_ROLLBACK_DETECTED, and never served as the agent's current state.
describe("state rollback protection", () => {
  const dir = mkdtempSync(join(tmpdir(), "veil-rollback-"));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const key = randomBytes(32);
  const anchorKey = randomBytes(32);
  const enc = (n: number) => new TextEncoder().encode(String(n));
  const dec = (b: Uint8Array | undefined) => (b ? Number(new TextDecoder().decode(b)) : undefined);
  let files = 0;
  const fresh = () => {
    const path = join(dir, `state-${files++}.sqlite`);
    const anchorPath = `${path}.anchor.json`;
    const open = () => new SqliteStateStore(path, { anchor: new FileStateAnchor(anchorPath, anchorKey) });
    return { path, open };
  };
  /** The host's own view of the file: raw rows, no keys. */
  const raw = (path: string) => new Database(path);
  const rollback = { code: "STATE_ROLLBACK_DETECTED" };

  test("an older ciphertext of a row put back is refused, by the writer and by a new process", async () => {
    const { path, open } = fresh();
    const store = open();
    const state = new EncryptedAgentState(store, 1n, key);
    await state.put("balance", enc(100));
    const old = raw(path).prepare("SELECT value FROM agent_state WHERE agent = '1'").get() as {
      value: Buffer;
    };
    await state.put("balance", enc(5));
    assert.equal(dec(await state.get("balance")), 5);
    const host = raw(path);
    host.prepare("UPDATE agent_state SET value = ? WHERE agent = '1'").run(old.value);
    host.close();
    await assert.rejects(state.get("balance"), rollback);
    // A restarted worker (new process, nothing in memory) refuses it too.
    store.close();
    await assert.rejects(new EncryptedAgentState(open(), 1n, key).get("balance"), rollback);
  });

  test("a row removed or one copied back from a deleted entry is refused", async () => {
    const { path, open } = fresh();
    const state = new EncryptedAgentState(open(), 2n, key);
    await state.put("a", enc(1));
    await state.put("b", enc(2));
    const b = raw(path).prepare("SELECT row, value, size FROM agent_state WHERE agent = '2'").all() as {
      row: string;
      value: Buffer;
      size: number;
    }[];
    const host = raw(path);
    host.prepare("DELETE FROM agent_state WHERE agent = '2' AND row = ?").run(b[0]!.row);
    host.close();
    await assert.rejects(new EncryptedAgentState(open(), 2n, key).get("a"), rollback);

    const { path: p2, open: open2 } = fresh();
    const s2 = new EncryptedAgentState(open2(), 3n, key);
    await s2.put("session", enc(1));
    const gone = raw(p2).prepare("SELECT row, value, size FROM agent_state WHERE agent = '3'").get() as {
      row: string;
      value: Buffer;
      size: number;
    };
    assert.equal(await s2.delete("session"), true);
    assert.equal(await s2.get("session"), undefined);
    const h2 = raw(p2);
    h2.prepare("INSERT INTO agent_state (agent, row, value, size) VALUES ('3', ?, ?, ?)").run(
      gone.row,
      gone.value,
      gone.size,
    );
    h2.close();
    await assert.rejects(new EncryptedAgentState(open2(), 3n, key).get("session"), rollback);
  });

  test("the whole store restored from an older copy is refused after a restart", async () => {
    const { path, open } = fresh();
    let store = open();
    let state = new EncryptedAgentState(store, 4n, key);
    await state.put("n", enc(1));
    store.close();
    for (const f of ["", "-wal", "-shm"]) {
      try {
        copyFileSync(`${path}${f}`, `${path}.backup${f}`);
      } catch {
        // no WAL after a clean close
      }
    }
    store = open();
    state = new EncryptedAgentState(store, 4n, key);
    for (let n = 2; n <= 10; n++) await state.put("n", enc(n));
    store.close();
    copyFileSync(`${path}.backup`, path);
    rmSync(`${path}-wal`, { force: true });
    rmSync(`${path}-shm`, { force: true });
    // The restored copy is internally consistent (head and rows agree): only the anchor the
    // worker keeps outside the store can tell it is old.
    await assert.rejects(new EncryptedAgentState(open(), 4n, key).get("n"), rollback);
  });

  test("two workers writing one store see each other's writes, none refused and none lost", async () => {
    const { path } = fresh();
    const a = new SqliteStateStore(path, { anchor: new FileStateAnchor(`${path}.a.json`, anchorKey) });
    const b = new SqliteStateStore(path, { anchor: new FileStateAnchor(`${path}.b.json`, anchorKey) });
    const sa = new EncryptedAgentState(a, 5n, key);
    const sb = new EncryptedAgentState(b, 5n, key);
    for (let i = 0; i < 20; i++) {
      await (i % 2 ? sa : sb).put(`k${i}`, enc(i));
      assert.equal(dec(await (i % 2 ? sb : sa).get(`k${i}`)), i);
    }
    assert.equal((await sa.list("k", 100)).length, 20);
    assert.equal((await sb.list("k", 100)).length, 20);
  });

  test("a tampered anchor file is an error that names it, not a silent trust of the store", async () => {
    const { path, open } = fresh();
    const store = open();
    await new EncryptedAgentState(store, 6n, key).put("x", enc(1));
    store.close();
    const { readFileSync } = await import("node:fs");
    const anchor = JSON.parse(readFileSync(`${path}.anchor.json`, "utf8"));
    anchor.counters["6"] = "0";
    writeFileSync(`${path}.anchor.json`, JSON.stringify(anchor));
    assert.throws(open, (err: Error & { code?: string }) => {
      assert.equal(err.code, "STATE_ANCHOR_CORRUPT");
      assert.match(err.message, /anchor\.json/);
      return true;
    });
  });

  test("a state store cut short or overwritten is an error that names the file, never an empty store", async () => {
    const { path, open } = fresh();
    const store = open();
    const state = new EncryptedAgentState(store, 7n, key);
    for (let i = 0; i < 300; i++) await state.put(`k${i}`, new Uint8Array(200));
    store.close();
    truncateSync(path, 8192);
    const named = (err: Error & { code?: string }) => {
      assert.equal(err.code, "STORE_CORRUPT");
      assert.ok(err.message.includes(path), err.message);
      assert.match(err.message, /state store/);
      return true;
    };
    assert.throws(open, named);
    writeFileSync(path, "these bytes are no database ".repeat(40));
    assert.throws(open, named);
  });
});
