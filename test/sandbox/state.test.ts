import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import Database from "better-sqlite3";
import { VeilError } from "../../src/errors/index.ts";
import { IsolateSandbox } from "../../src/sandbox/isolate.ts";
import { EncryptedAgentState } from "../../src/storage/agent-state.ts";
import { SqliteStateStore } from "../../src/storage/state-store.ts";

const dir = mkdtempSync(join(tmpdir(), "veil-state-"));
const dbPath = join(dir, "state.sqlite");
const store = new SqliteStateStore(dbPath);
after(() => store.close());

const meta = (id: string) => ({ id, name: `a${id}`, codeHash: `0x${"00".repeat(32)}` });
const keyA = randomBytes(32);
const keyB = randomBytes(32);

// A tiny key-value agent: /put?k=…&v=… (JSON value), /get?k=…, /del?k=…, /list?prefix=…
const KV_AGENT = `export default { async fetch(request, env, ctx) {
  const u = new URL(request.url);
  const k = u.searchParams.get("k");
  try {
    if (u.pathname === "/put") { await ctx.state.put(k, JSON.parse(u.searchParams.get("v"))); return Response.json({ ok: true }); }
    if (u.pathname === "/bytes") { await ctx.state.put(k, new Uint8Array([1, 2, 255])); const b = await ctx.state.get(k); return Response.json({ bytes: Array.from(b), isBytes: b instanceof Uint8Array }); }
    if (u.pathname === "/get") return Response.json({ value: (await ctx.state.get(k)) ?? null });
    if (u.pathname === "/del") return Response.json({ deleted: await ctx.state.delete(k) });
    if (u.pathname === "/list") return Response.json({ keys: await ctx.state.list({ prefix: u.searchParams.get("prefix") ?? "" }) });
    if (u.pathname === "/big") { await ctx.state.put(k, "x".repeat(Number(u.searchParams.get("n")))); return Response.json({ ok: true }); }
  } catch (e) { return Response.json({ error: e.code ?? e.name, message: e.message }, { status: 400 }); }
  return new Response("?", { status: 404 });
} };`;

async function kv(
  sandbox: IsolateSandbox,
  path: string,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await sandbox.invoke({
    method: "GET",
    url: `https://t.agents.veil${path}`,
    headers: [],
    body: null,
  });
  return { status: res.status, json: JSON.parse(new TextDecoder().decode(res.body)) };
}

const agent = (id: bigint, key: Buffer, quota?: ConstructorParameters<typeof EncryptedAgentState>[3]) =>
  IsolateSandbox.create({
    code: KV_AGENT,
    meta: meta(id.toString()),
    state: new EncryptedAgentState(store, id, key, quota),
  });

describe("ctx.state", () => {
  test("put, get, list and delete JSON values and bytes", async () => {
    const a = await agent(1n, keyA);
    assert.deepEqual((await kv(a, `/put?k=user:ada&v=${encodeURIComponent('{"visits":3}')}`)).json, {
      ok: true,
    });
    await kv(a, "/put?k=user:bob&v=7");
    await kv(a, "/put?k=config&v=%22dark%22");
    assert.deepEqual((await kv(a, "/get?k=user:ada")).json, { value: { visits: 3 } });
    assert.deepEqual((await kv(a, "/list?prefix=user:")).json, { keys: ["user:ada", "user:bob"] });
    assert.deepEqual((await kv(a, "/bytes?k=raw")).json, { bytes: [1, 2, 255], isBytes: true });
    assert.deepEqual((await kv(a, "/del?k=user:bob")).json, { deleted: true });
    assert.deepEqual((await kv(a, "/del?k=user:bob")).json, { deleted: false });
    assert.deepEqual((await kv(a, "/get?k=user:bob")).json, { value: null });
    a.dispose();
  });

  test("persists: a new sandbox (a restart, another worker on the same store) reads it back", async () => {
    const again = await agent(1n, keyA);
    assert.deepEqual((await kv(again, "/get?k=config")).json, { value: "dark" });
    again.dispose();
    const reopened = new SqliteStateStore(dbPath);
    assert.deepEqual(
      new TextDecoder().decode(
        (await new EncryptedAgentState(reopened, 1n, keyA).get("config"))?.subarray(1),
      ),
      '"dark"',
    );
    reopened.close();
  });

  test("one agent cannot see another's state, even under the same names", async () => {
    const b = await agent(2n, keyB);
    assert.deepEqual((await kv(b, "/get?k=config")).json, { value: null });
    assert.deepEqual((await kv(b, "/list")).json, { keys: [] });
    await kv(b, "/put?k=config&v=%22light%22");
    const a = await agent(1n, keyA);
    assert.deepEqual((await kv(a, "/get?k=config")).json, { value: "dark" });
    a.dispose();
    b.dispose();
  });

  test("the store holds neither names nor values in the clear", () => {
    store.close();
    const files = readdirSync(dir).map((f) => readFileSync(join(dir, f)).toString("latin1"));
    for (const needle of ["user:ada", "visits", "dark", "config"]) {
      assert.ok(!files.some((f) => f.includes(needle)), `"${needle}" appears in the SQLite files`);
    }
  });

  test("a party without the state key, or a row moved to another agent, opens nothing", async () => {
    const s = new SqliteStateStore(dbPath);
    try {
      const thief = new EncryptedAgentState(s, 1n, randomBytes(32));
      // Another key cannot even vouch for the agent's head, so it reads nothing at all.
      await assert.rejects(
        thief.get("config"),
        (e: unknown) => e instanceof VeilError && e.code === "STATE_CORRUPT",
      );
      await assert.rejects(
        thief.list("", 10),
        (e: unknown) => e instanceof VeilError && e.code === "STATE_CORRUPT",
      );
      // Copy agent 1's row into agent 2's table under agent 2's row name: agent 2's head does
      // not count it, so it is refused before it is even opened.
      const [row] = (await s.rows("1")).rows;
      const target = new EncryptedAgentState(s, 2n, keyB);
      assert.ok(row);
      const host = new Database(dbPath);
      host
        .prepare("INSERT INTO agent_state (agent, row, value, size) VALUES ('2', ?, ?, ?)")
        .run(row.row, Buffer.from(row.value), row.value.length);
      host.close();
      await assert.rejects(
        target.list("", 10),
        (e: unknown) => e instanceof VeilError && e.code === "STATE_ROLLBACK_DETECTED",
      );
    } finally {
      s.close();
    }
  });

  test("quotas: bytes, keys, key length; the agent gets a typed error and nothing is written", async () => {
    const s = new SqliteStateStore(":memory:");
    const sandbox = await IsolateSandbox.create({
      code: KV_AGENT,
      meta: meta("3"),
      state: new EncryptedAgentState(s, 3n, keyA, {
        maxBytes: 1_500,
        maxKeys: 2,
        maxKeyBytes: 16,
        maxValueBytes: 1_000,
      }),
    });
    const big = await kv(sandbox, "/big?k=a&n=1500");
    assert.equal(big.status, 400);
    assert.equal(big.json.error, "LIMIT_STATE_EXCEEDED");
    assert.equal((await kv(sandbox, "/big?k=a&n=900")).status, 200);
    const over = await kv(sandbox, "/big?k=b&n=900");
    assert.equal(over.json.error, "LIMIT_STATE_EXCEEDED", "the total would pass 1,500 bytes");
    assert.deepEqual((await kv(sandbox, "/get?k=b")).json, { value: null });
    await kv(sandbox, "/put?k=c&v=1");
    assert.equal((await kv(sandbox, "/put?k=d&v=1")).json.error, "LIMIT_STATE_EXCEEDED", "a third key");
    assert.equal((await kv(sandbox, `/put?k=${"k".repeat(17)}&v=1`)).json.error, "STATE_KEY_INVALID");
    assert.equal((await kv(sandbox, "/put?k=&v=1")).json.error, "TypeError");
    assert.deepEqual((await kv(sandbox, "/list")).json, { keys: ["a", "c"] });
    sandbox.dispose();
    s.close();
  });

  test("without a state store, ctx.state is undefined", async () => {
    const sandbox = await IsolateSandbox.create({
      code: "export default { fetch: (r, env, ctx) => Response.json({ has: ctx.state !== undefined }) };",
      meta: meta("4"),
    });
    assert.deepEqual((await kv(sandbox, "/")).json, { has: false });
    sandbox.dispose();
  });
});

describe("the store's refusals reach the caller with their code", () => {
  const backend = (refuse: boolean) => ({
    async get() {
      if (refuse)
        throw new VeilError(
          "STATE_ROLLBACK_DETECTED",
          "Agent 9's state store went back: its head is at write 3",
          {},
        );
      return undefined;
    },
    async put() {},
    async delete() {
      return false;
    },
    async list() {
      return [];
    },
  });
  const code = async (sandbox: IsolateSandbox, path: string) => {
    try {
      await sandbox.invoke({ method: "GET", url: `https://a9.agents.veil${path}`, headers: [], body: null });
      return "answered";
    } catch (err) {
      assert.ok(err instanceof VeilError, String(err));
      return err.code;
    }
  };
  const CARELESS = `export default { async fetch(request, env, ctx) {
    if (new URL(request.url).pathname === "/fake") throw Object.assign(new Error("STATE_ROLLBACK_DETECTED"), { code: "STATE_ROLLBACK_DETECTED" });
    return Response.json({ n: await ctx.state.get("n") });
  } };`;

  test("an agent that does not catch a rolled-back read: the caller gets STATE_ROLLBACK_DETECTED", async () => {
    const sandbox = await IsolateSandbox.create({ code: CARELESS, meta: meta("9"), state: backend(true) });
    try {
      assert.equal(await code(sandbox, "/"), "STATE_ROLLBACK_DETECTED");
    } finally {
      sandbox.dispose();
    }
  });

  test("an agent cannot pass off its own error as the store's (it stays AGENT_THREW)", async () => {
    const sandbox = await IsolateSandbox.create({ code: CARELESS, meta: meta("9"), state: backend(false) });
    try {
      assert.equal(await code(sandbox, "/fake"), "AGENT_THREW");
    } finally {
      sandbox.dispose();
    }
  });
});
