import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { IsolateSandbox } from "../../src/sandbox/isolate.ts";
import { EncryptedAgentState } from "../../src/storage/agent-state.ts";
import { PostgresStateStore } from "../../src/storage/postgres-state-store.ts";
import { SqliteStateStore, type StateStore } from "../../src/storage/state-store.ts";
import { testDatabase } from "../helpers/postgres.ts";

// ctx.state.transaction as agents use it, with two sandboxes on one store standing for two
// workers serving the same agent.
const AGENT = `export default { async fetch(request, env, ctx) {
  const u = new URL(request.url);
  try {
    if (u.pathname === "/increment") {
      const n = await ctx.state.transaction(async (tx) => {
        const n = ((await tx.get("count")) ?? 0) + 1;
        tx.put("count", n);
        return n;
      });
      return Response.json({ n });
    }
    if (u.pathname === "/count") return Response.json({ count: (await ctx.state.get("count")) ?? 0 });
    if (u.pathname === "/own-writes") {
      const seen = await ctx.state.transaction(async (tx) => {
        tx.put("a", { x: 1 });
        const a = await tx.get("a");
        const deleted = await tx.delete("a");
        return { a, deleted, after: (await tx.get("a")) ?? null };
      });
      return Response.json({ ...seen, stored: (await ctx.state.get("a")) ?? null });
    }
    if (u.pathname === "/throws") {
      try {
        await ctx.state.transaction(async (tx) => { tx.put("half", 1); throw new Error("changed my mind"); });
      } catch (e) { return Response.json({ thrown: e.message, stored: (await ctx.state.get("half")) ?? null }); }
    }
    if (u.pathname === "/late") {
      let kept;
      await ctx.state.transaction((tx) => { kept = tx; });
      try { kept.put("late", 1); } catch (e) { return Response.json({ late: e.message }); }
    }
  } catch (e) { return Response.json({ error: e.code ?? e.name, message: e.message }, { status: 500 }); }
  return new Response("?", { status: 404 });
} };`;

const dir = mkdtempSync(join(tmpdir(), "veil-tx-"));
const open: { dispose(): void }[] = [];
const stores: StateStore[] = [];
after(async () => {
  for (const s of open) s.dispose();
  for (const s of stores) await s.close();
  rmSync(dir, { recursive: true, force: true });
});

async function call(sandbox: IsolateSandbox, path: string): Promise<Record<string, unknown>> {
  const res = await sandbox.invoke({
    method: "POST",
    url: `https://t.agents.veil${path}`,
    headers: [],
    body: null,
  });
  return JSON.parse(new TextDecoder().decode(res.body));
}

const backends: [string, () => Promise<StateStore>][] = [
  ["SQLite", async () => new SqliteStateStore(join(dir, "state.sqlite"))],
  [
    "PostgreSQL",
    await (async () => {
      let url: string | undefined;
      return async () => {
        url ??= await testDatabase();
        return PostgresStateStore.open(url, { namespace: "veil_tx" });
      };
    })(),
  ],
];

for (const [name, openStore] of backends) {
  describe(`ctx.state.transaction on ${name}`, () => {
    const key = randomBytes(32);
    const worker = async () => {
      const store = await openStore();
      stores.push(store);
      const sandbox = await IsolateSandbox.create({
        code: AGENT,
        meta: { id: "7", name: "counter", codeHash: `0x${"00".repeat(32)}` },
        state: new EncryptedAgentState(store, 7n, key),
      });
      open.push(sandbox);
      return sandbox;
    };

    test("increments on two workers at once: none lost, each caller told a different count", async () => {
      const [a, b] = [await worker(), await worker()];
      const per = 25;
      const answers = await Promise.all(
        Array.from({ length: 2 * per }, (_, i) => call(i % 2 ? a! : b!, "/increment")),
      );
      const counts = answers.map((r) => r.n as number).sort((x, y) => x - y);
      assert.deepEqual(
        counts,
        Array.from({ length: 2 * per }, (_, i) => i + 1),
        JSON.stringify(answers),
      );
      assert.deepEqual(await call(a!, "/count"), { count: 2 * per });
      assert.deepEqual(await call(b!, "/count"), { count: 2 * per });
    });

    test("a transaction reads its own writes; one that throws writes nothing; a finished one takes no more", async () => {
      const a = await worker();
      assert.deepEqual(await call(a, "/own-writes"), {
        a: { x: 1 },
        deleted: true,
        after: null,
        stored: null,
      });
      assert.deepEqual(await call(a, "/throws"), { thrown: "changed my mind", stored: null });
      assert.deepEqual(await call(a, "/late"), { late: "ctx.state.transaction: the transaction is over" });
    });
  });
}
