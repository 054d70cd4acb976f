import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import Database from "better-sqlite3";
import pg from "pg";
import { VeilError } from "../../src/errors/index.ts";
import { EncryptedAgentState, reencryptAgentState, type StateKeys } from "../../src/storage/agent-state.ts";
import { PostgresNonceSpace, SqliteNonceSpace } from "../../src/storage/nonce-space.ts";
import { openSharedStores } from "../../src/storage/open-stores.ts";
import { PostgresStateStore } from "../../src/storage/postgres-state-store.ts";
import { SqliteStateStore, type StateStore } from "../../src/storage/state-store.ts";
import { FileStateAnchor } from "../../src/storage/state-versions.ts";
import { testDatabase } from "../helpers/postgres.ts";

// The same behaviour from both state stores: what the workers serving one agent see when
// they share a SQLite file on one machine, or a PostgreSQL database across hosts. Each "worker"
// below is its own store instance (its own connection and its own memory of verified heads), as
// two worker processes are.
const dir = mkdtempSync(join(tmpdir(), "veil-stores-"));
const opened: StateStore[] = [];
after(async () => {
  for (const s of opened) await s.close().catch(() => {});
  rmSync(dir, { recursive: true, force: true });
});

type Backend = {
  name: string;
  open(): Promise<() => Promise<StateStore>>;
  raw(sql: string, args: unknown[]): Promise<unknown[]>;
};

let files = 0;
const sqlite: Backend = {
  name: "SQLite",
  async open() {
    const path = join(dir, `state-${files++}.sqlite`);
    this.raw = async (sql, args) => {
      const db = new Database(path);
      try {
        const stmt = db.prepare(sql.replace(/\$\d+/g, "?"));
        return stmt.reader ? stmt.all(...args) : [stmt.run(...args)];
      } finally {
        db.close();
      }
    };
    return async () => {
      const s = new SqliteStateStore(path);
      opened.push(s);
      return s;
    };
  },
  raw: async () => [],
};
const postgres: Backend = {
  name: "PostgreSQL",
  async open() {
    const url = await testDatabase();
    this.raw = async (sql, args) => {
      const c = new pg.Client(url);
      await c.connect();
      try {
        await c.query("SET search_path = veil_t");
        return (await c.query(sql, args)).rows;
      } finally {
        await c.end();
      }
    };
    return async () => {
      const s = await PostgresStateStore.open(url, { namespace: "veil_t" });
      opened.push(s);
      return s;
    };
  },
  raw: async () => [],
};

const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
const dec = (b: Uint8Array | undefined) => (b ? JSON.parse(new TextDecoder().decode(b)) : undefined);
const code = (c: string) => (e: unknown) => e instanceof VeilError && e.code === c;

for (const backend of [sqlite, postgres]) {
  describe(`agents' state on ${backend.name}`, () => {
    test("a read after an acknowledged write sees it, on another worker", async () => {
      const open = await backend.open();
      const key = randomBytes(32);
      const a = new EncryptedAgentState(await open(), 1n, key);
      const b = new EncryptedAgentState(await open(), 1n, key);
      for (let i = 0; i < 20; i++) {
        await (i % 2 ? a : b).put("n", enc(i));
        assert.equal(dec(await (i % 2 ? b : a).get("n")), i);
      }
      await a.put("other", enc("x"));
      assert.deepEqual(await b.list("", 10), ["n", "other"]);
      assert.equal(await b.delete("other"), true);
      assert.equal(await a.get("other"), undefined);
      assert.deepEqual(await a.usage(), await b.usage());
    });

    test("concurrent increments from two workers in transactions lose none", async () => {
      const open = await backend.open();
      const key = randomBytes(32);
      const workers = [
        new EncryptedAgentState(await open(), 2n, key),
        new EncryptedAgentState(await open(), 2n, key),
      ];
      // What ctx.state.transaction does: read at a counter, commit only if still there, else again.
      const increment = async (state: EncryptedAgentState) => {
        for (let attempt = 0; attempt < 500; attempt++) {
          const { value, at } = await state.read("count");
          if (await state.commit(at, [["count", enc((dec(value) ?? 0) + 1)]])) return attempt;
        }
        throw new Error("never committed");
      };
      const per = 40;
      const retries = await Promise.all(
        workers.flatMap((w) => Array.from({ length: per }, () => increment(w))),
      );
      assert.equal(dec(await workers[0]!.get("count")), 2 * per);
      assert.equal(dec(await workers[1]!.get("count")), 2 * per);
      // They did contend: some increments had to run again, and none was lost for it.
      assert.ok(
        retries.some((r) => r > 0),
        "no increment ever had to retry",
      );
    });

    test("a transaction whose reads are stale commits nothing", async () => {
      const open = await backend.open();
      const key = randomBytes(32);
      const a = new EncryptedAgentState(await open(), 3n, key);
      const b = new EncryptedAgentState(await open(), 3n, key);
      await a.put("balance", enc(100));
      const seen = await a.read("balance");
      await b.put("balance", enc(40)); // another worker spends meanwhile
      assert.equal(
        await a.commit(seen.at, [
          ["balance", enc(dec(seen.value) - 70)],
          ["log", enc("spent 70")],
        ]),
        false,
      );
      assert.equal(dec(await b.get("balance")), 40);
      assert.equal(await b.get("log"), undefined);
      // On fresh reads the same transaction goes through, both entries at once.
      const again = await a.read("balance");
      assert.equal(
        await a.commit(again.at, [
          ["balance", enc(dec(again.value) - 30)],
          ["log", enc("spent 30")],
        ]),
        true,
      );
      assert.equal(dec(await b.get("balance")), 10);
      assert.equal(dec(await b.get("log")), "spent 30");
    });

    test("a write over the quota is refused whole and changes nothing", async () => {
      const open = await backend.open();
      const key = randomBytes(32);
      const quota = { maxBytes: 2_000, maxKeys: 3, maxKeyBytes: 64, maxValueBytes: 1_000 };
      const s = new EncryptedAgentState(await open(), 4n, key, quota);
      await s.put("a", enc("x".repeat(500)));
      const at = (await s.read("a")).at;
      await assert.rejects(
        s.commit(at, [
          ["b", enc("y".repeat(500))],
          ["c", enc("z".repeat(500))],
          ["d", enc("w")],
        ]),
        code("LIMIT_STATE_EXCEEDED"),
      );
      assert.deepEqual(await s.list("", 10), ["a"]);
      await assert.rejects(s.put("big", enc("q".repeat(5_000))), code("LIMIT_STATE_EXCEEDED"));
      assert.deepEqual((await s.usage()).keys, 1);
    });

    test("a rotation's re-encryption and a write sealed under the ended epoch never leave an entry behind", async () => {
      const open = await backend.open();
      const rowKey = randomBytes(32);
      const epochKeys = new Map([
        [1n, randomBytes(32)],
        [2n, randomBytes(32)],
      ]);
      let current = 1n;
      const keys: StateKeys = {
        rowKey,
        current: () => ({ epoch: current, key: epochKeys.get(current)! }),
        forEpoch: (e) => epochKeys.get(e),
      };
      // The lagging worker still on epoch 1 and the rotating one.
      const lagging = new EncryptedAgentState(await open(), 5n, {
        ...keys,
        current: () => ({ epoch: 1n, key: epochKeys.get(1n)! }),
      });
      const rotating = await open();
      const state = new EncryptedAgentState(rotating, 5n, keys);
      await state.put("a", enc(1));
      current = 2n;
      const moved = await reencryptAgentState(
        rotating,
        5n,
        { epoch: 1n, key: epochKeys.get(1n)! },
        { epoch: 2n, key: epochKeys.get(2n)! },
      );
      assert.equal(moved.rows, 1);
      // A write sealed under epoch 1 after the pass would be left under a key about to be
      // destroyed: the store refuses it, and a worker not yet rotated says so (retryable).
      await assert.rejects(lagging.put("b", enc(2)), code("STATE_EPOCH_AHEAD"));
      await state.put("b", enc(2));
      // Both entries are under epoch 2: they open with epoch 1's key gone.
      epochKeys.delete(1n);
      assert.equal(dec(await state.get("a")), 1);
      assert.equal(dec(await state.get("b")), 2);
    });

    test("an older ciphertext put back by the host is refused as a rollback", async () => {
      const open = await backend.open();
      const key = randomBytes(32);
      const s = new EncryptedAgentState(await open(), 6n, key);
      await s.put("balance", enc(100));
      const [old] = (await backend.raw("SELECT value FROM agent_state WHERE agent = $1", ["6"])) as {
        value: Buffer;
      }[];
      await s.put("balance", enc(5));
      await backend.raw("UPDATE agent_state SET value = $1 WHERE agent = $2", [old!.value, "6"]);
      await assert.rejects(s.get("balance"), code("STATE_ROLLBACK_DETECTED"));
      await assert.rejects(
        new EncryptedAgentState(await open(), 6n, key).get("balance"),
        code("STATE_ROLLBACK_DETECTED"),
      );
    });
  });
}

describe("state store schema", () => {
  test("a SQLite file from the previous release (no schema versions) is taken up with its entries", async () => {
    const path = join(dir, "previous.sqlite");
    const key = randomBytes(32);
    const s = new SqliteStateStore(path);
    await new EncryptedAgentState(s, 1n, key).put("kept", enc({ since: "0.x" }));
    await s.close();
    // What the previous release's file held: its two tables and rows, and nothing else.
    const db = new Database(path);
    db.exec("DROP TABLE veil_schema; DROP TABLE agent_epochs");
    db.close();
    const reopened = new SqliteStateStore(path);
    opened.push(reopened);
    assert.deepEqual(dec(await new EncryptedAgentState(reopened, 1n, key).get("kept")), { since: "0.x" });
    const check = new Database(path);
    assert.deepEqual(check.prepare("SELECT component, version FROM veil_schema ORDER BY component").all(), [
      { component: "state", version: 2 },
    ]);
    check.close();
  });

  test("workers starting at once on one PostgreSQL database migrate it once", async () => {
    const url = await testDatabase();
    const stores = await Promise.all(
      Array.from({ length: 4 }, () => openSharedStores(url, { namespace: "veil_many" })),
    );
    const c = new pg.Client(url);
    await c.connect();
    const rows = (await c.query("SELECT component, version FROM veil_many.veil_schema ORDER BY component"))
      .rows;
    await c.end();
    assert.deepEqual(rows, [
      { component: "fees", version: 1 },
      { component: "logs", version: 1 },
      { component: "nonces", version: 1 },
      { component: "state", version: 3 },
    ]);
    await Promise.all(stores.map((s) => s.close()));
  });

  test("a database that cannot be reached fails at start, naming it without its password", async () => {
    await assert.rejects(openSharedStores("postgres://veil:s3cret@127.0.0.1:1/nothing"), (e: unknown) => {
      assert.ok(e instanceof VeilError);
      assert.equal(e.code, "STORE_UNREACHABLE");
      assert.match(e.message, /127\.0\.0\.1:1\/nothing/);
      assert.doesNotMatch(e.message, /s3cret/);
      return true;
    });
  });
});

describe("nonces shared by workers", () => {
  test("of two workers claiming one nonce at once, exactly one wins, on PostgreSQL as on SQLite", async () => {
    const url = await testDatabase();
    const path = join(dir, "nonces.sqlite");
    const pairs = [
      [await PostgresNonceSpace.open(url, "veil_n"), await PostgresNonceSpace.open(url, "veil_n")],
      [new SqliteNonceSpace(path), new SqliteNonceSpace(path)],
    ];
    const now = Date.now();
    for (const [a, b] of pairs) {
      for (let i = 0; i < 50; i++) {
        const nonce = `0x${i.toString(16).padStart(64, "0")}`;
        const won = await Promise.all([
          a!.claim("s", nonce, now + 60_000, now),
          b!.claim("s", nonce, now + 60_000, now),
        ]);
        assert.equal(won.filter(Boolean).length, 1, `nonce ${i}: ${won}`);
      }
      // Once its request's window has passed, a row is taken over rather than refused forever.
      assert.equal(await a!.claim("s", "0xold", now + 10, now), true);
      assert.equal(await b!.claim("s", "0xold", now + 60_000, now + 20), true);
      await a!.close?.();
      await b!.close?.();
    }
  });
});

describe("acknowledged state survives PostgreSQL killed", () => {
  test("every write acknowledged before kill -9 of the database server is there after it restarts", async () => {
    const { startPostgres } = await import("../../scripts/postgres-cluster.mjs");
    const server = await startPostgres();
    try {
      const key = randomBytes(32);
      const anchorPath = join(dir, "crash.anchor.json");
      const anchorKey = randomBytes(32);
      const store = await PostgresStateStore.open(server.url, {
        namespace: "veil_crash",
        anchor: new FileStateAnchor(anchorPath, anchorKey),
      });
      const state = new EncryptedAgentState(store, 9n, key);
      // Writes go on until the server dies under them; those that were acknowledged are counted.
      let acknowledged = 0;
      const writing = (async () => {
        for (let i = 0; ; i++) {
          try {
            await state.put(`k${i}`, enc(i));
            acknowledged = i + 1;
          } catch {
            return;
          }
        }
      })();
      await new Promise((r) => setTimeout(r, 700));
      await server.kill();
      await writing;
      assert.ok(acknowledged > 10, `only ${acknowledged} writes before the kill`);
      await store.close().catch(() => {});
      const again = await startPostgres({ dataDir: server.dataDir, port: server.port });
      try {
        const reopened = await PostgresStateStore.open(again.url, {
          namespace: "veil_crash",
          anchor: new FileStateAnchor(anchorPath, anchorKey),
        });
        const after = new EncryptedAgentState(reopened, 9n, key);
        for (let i = 0; i < acknowledged; i++) assert.equal(dec(await after.get(`k${i}`)), i, `k${i}`);
        await reopened.close();
      } finally {
        await again.stop();
      }
    } finally {
      await server.stop().catch(() => {});
    }
  });
});
