import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import {
  MemoryNonceSpace,
  type NonceSpace,
  PostgresNonceSpace,
  SqliteNonceSpace,
} from "../../src/storage/nonce-space.ts";
import { ReplayGuard } from "../../src/worker/replay-guard.ts";
import { testDatabase } from "../helpers/postgres.ts";

const dir = mkdtempSync(join(tmpdir(), "veil-nonces-"));
after(() => rmSync(dir, { recursive: true, force: true }));

/** The behaviour every nonce space has, written once (ADR 0020). */
function behavesLikeANonceSpace(name: string, make: () => NonceSpace | Promise<NonceSpace>) {
  describe(`${name}: a nonce space`, () => {
    test("a nonce is claimed once within its scope, and apart in another scope", async () => {
      const space = await make();
      const now = 1_000_000;
      assert.equal(await space.claim("sealed:1", "0xaa", now + 60_000, now), true);
      assert.equal(await space.claim("sealed:1", "0xaa", now + 60_000, now + 1), false);
      assert.equal(await space.claim("sealed:2", "0xaa", now + 60_000, now + 1), true);
    });
    test("once its time has passed a nonce may be claimed again (its request is stale by then)", async () => {
      const space = await make();
      const now = 2_000_000;
      assert.equal(await space.claim("s", "0xbb", now + 10, now), true);
      assert.equal(await space.claim("s", "0xbb", now + 10, now + 5), false);
      assert.equal(await space.claim("s", "0xbb", now + 100, now + 10), true);
      assert.equal(await space.claim("s", "0xbb", now + 100, now + 50), false);
    });
  });
}

behavesLikeANonceSpace("memory", () => new MemoryNonceSpace());
let files = 0;
behavesLikeANonceSpace("SQLite", () => new SqliteNonceSpace(join(dir, `n${++files}.sqlite`)));
const pools: NonceSpace[] = [];
after(async () => {
  for (const p of pools) await p.close?.();
});
behavesLikeANonceSpace("PostgreSQL", async () => {
  const space = await PostgresNonceSpace.open(await testDatabase(), "veil_nonces");
  pools.push(space);
  return space;
});

describe("workers sharing a SQLite nonce space", async () => {
  test("a nonce one worker claimed is refused by another, and by itself after a restart", async () => {
    const file = join(dir, "shared.sqlite");
    const a = new SqliteNonceSpace(file);
    const b = new SqliteNonceSpace(file);
    const now = 3_000_000;
    assert.equal(await a.claim("signed:1:0xcaller", "0x01", now + 60_000, now), true);
    assert.equal(await b.claim("signed:1:0xcaller", "0x01", now + 60_000, now), false);
    a.close();
    const restarted = new SqliteNonceSpace(file);
    assert.equal(await restarted.claim("signed:1:0xcaller", "0x01", now + 60_000, now), false);
    restarted.close();
    b.close();
  });
});

describe("the replay guard", async () => {
  const guardAt = (nowMs: number) => new ReplayGuard(new MemoryNonceSpace(), () => nowMs);
  const code = async (fn: () => Promise<void>) => {
    try {
      await fn();
      return "admitted";
    } catch (err) {
      return (err as { code: string }).code;
    }
  };

  test("a request within the window is admitted once; its replay is REQUEST_REPLAYED", async () => {
    const guard = guardAt(1_700_000_000_000);
    assert.equal(
      await code(() => guard.admit("sealed:1", "0xAB", 1_700_000_000, "encrypted request")),
      "admitted",
    );
    assert.equal(
      await code(() => guard.admit("sealed:1", "0xab", 1_700_000_000, "encrypted request")),
      "REQUEST_REPLAYED",
    );
  });

  test("a request made outside the window, or with no time, is REQUEST_STALE and claims nothing", async () => {
    const guard = guardAt(1_700_000_000_000);
    assert.equal(await code(() => guard.admit("s", "0x01", 1_700_000_000 - 301, "request")), "REQUEST_STALE");
    assert.equal(await code(() => guard.admit("s", "0x01", 1_700_000_000 + 301, "request")), "REQUEST_STALE");
    assert.equal(await code(() => guard.admit("s", "0x01", Number.NaN, "request")), "REQUEST_STALE");
    assert.equal(await code(() => guard.admit("s", "0x01", 1_700_000_000 - 299, "request")), "admitted");
  });
});
