// An agent that proves heavy or hostile is moved out of the worker's process (issue 15). Before,
// every agent's threads ran in the worker's one process at the worker's priority: a spinning
// stranger shared its address space, its V8 platform and its cores with every bystander. Now
// the first stop by a limit (or an answer no transport may carry, or a second of CPU spent
// without pause) moves it to the sandbox process, whose every thread runs at nice 10; it serves
// from there with its state, logs and streams as before, and comes back if that process dies.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { after, describe, test } from "node:test";
import { VeilError } from "../../../src/errors/index.ts";
import { AgentPlacement, PlacedSandbox } from "../../../src/sandbox/placement.ts";
import type { AgentStateBackend, Sandbox } from "../../../src/sandbox/types.ts";
import { requestsTo } from "../../helpers/sandbox-requests.ts";

const req = requestsTo("agent.agents.veil");
const text = (b: Uint8Array) => new TextDecoder().decode(b);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The nice value of each thread of process `pid`. */
function niceOfThreads(pid: number): number[] {
  return readdirSync(`/proc/${pid}/task`).map((tid) => {
    const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[16]);
  });
}

function memoryState(): AgentStateBackend & { values: Map<string, Uint8Array> } {
  const values = new Map<string, Uint8Array>();
  return {
    values,
    get: async (k) => values.get(k),
    put: async (k, v) => void values.set(k, v),
    delete: async (k) => values.delete(k),
    list: async (prefix) => [...values.keys()].filter((k) => k.startsWith(prefix)),
  };
}

const AGENT = `export default { async fetch(request, env, ctx) {
  const path = new URL(request.url).pathname;
  if (path === "/spin") for (;;) {}
  if (path === "/pid") return new Response(String(typeof process === "undefined" ? "none" : "leak"));
  if (path === "/stream") return new Response(new ReadableStream({ async pull(c) {
    c.enqueue(new TextEncoder().encode("piece ")); await new Promise((r) => setTimeout(r, 5));
    if (++globalThis.n >= 3) c.close(); } }));
  const n = Number(new TextDecoder().decode((await ctx.state.get("n")) ?? new Uint8Array())) + 1;
  await ctx.state.put("n", new TextEncoder().encode(String(n)));
  console.log("count", n);
  return new Response("count " + n);
} };
globalThis.n = 0;`;

describe("hostile agents: moved out of the worker's process", () => {
  const placement = new AgentPlacement();
  const open: Sandbox[] = [];
  after(() => {
    for (const s of open) s.dispose();
    placement.close();
  });

  async function agent(code = AGENT, cpuTimeMs = 250) {
    const logs: string[] = [];
    const state = memoryState();
    const sandbox = await placement.create({
      code,
      meta: { id: "7", name: "agent", codeHash: `0x${"77".repeat(32)}` },
      limits: { cpuTimeMs },
      log: (level, message) => logs.push(`${level}: ${message}`),
      state,
    });
    open.push(sandbox);
    assert.ok(sandbox instanceof PlacedSandbox);
    return { sandbox, logs, state };
  }

  test("a spinning agent, stopped once, runs on in another process whose every thread is niced; its state and logs carry on", async () => {
    await placement.start();
    const { sandbox, logs, state } = await agent();
    assert.equal(text((await sandbox.invoke(req("GET", "/"))).body), "count 1");
    assert.equal(sandbox.where, "worker");
    await assert.rejects(sandbox.invoke(req("GET", "/spin")), { code: "LIMIT_CPU_EXCEEDED" });
    // The move is under way: the next request waits for it and is served from the other process.
    assert.equal(text((await sandbox.invoke(req("GET", "/"))).body), "count 2");
    assert.equal(sandbox.where, "sandbox process");
    assert.match(sandbox.movedBecause ?? "", /LIMIT_CPU_EXCEEDED/);
    const pid = placement.processPid;
    assert.ok(pid && pid !== process.pid);
    const nices = niceOfThreads(pid);
    assert.ok(nices.length > 3, `${nices.length} threads`);
    assert.deepEqual([...new Set(nices)], [10], `threads' nice values: ${nices.join(",")}`);
    assert.deepEqual([...new Set(niceOfThreads(process.pid))].includes(10), false);
    // State went through the worker's backend; logs reach the worker's sink.
    assert.match(text(state.values.get("n")!), /2$/); // as the prelude encoded it
    assert.ok(
      logs.some((l) => l === "log: count 2"),
      logs.join("\n"),
    );
    assert.ok(logs.some((l) => /moved to the worker's sandbox process/.test(l)));
    // Its limits still hold there, with the same typed error.
    await assert.rejects(sandbox.invoke(req("GET", "/spin")), { code: "LIMIT_CPU_EXCEEDED" });
    assert.equal(text((await sandbox.invoke(req("GET", "/pid"))).body), "none");
  });

  test("a stream from the sandbox process comes piece by piece, pulled by the reader", async () => {
    const { sandbox } = await agent();
    await assert.rejects(sandbox.invoke(req("GET", "/spin")), { code: "LIMIT_CPU_EXCEEDED" });
    const r = await sandbox.invoke({ ...req("GET", "/stream"), acceptStream: true });
    assert.equal(sandbox.where, "sandbox process");
    assert.ok(r.stream);
    const pieces: string[] = [];
    for await (const c of r.stream.chunks) pieces.push(text(c));
    assert.deepEqual(pieces, ["piece ", "piece ", "piece "]);
    const end = await r.stream.finished;
    assert.equal(end.error, undefined);
    assert.ok(end.usage.cpuUs > 0);
  });

  test("an agent that keeps a core busy without being stopped is moved too; a light one never is", async () => {
    const busy = await agent(
      `export default { fetch() { const t = Date.now(); while (Date.now() - t < 60) {} return new Response("done"); } };`,
      1000,
    );
    const light = await agent(`export default { fetch() { return new Response("light"); } };`);
    // Busy for two seconds in a row (one heavy second alone could be a cold start).
    const started = Date.now();
    while (busy.sandbox.where === "worker" && Date.now() - started < 8_000) {
      assert.equal(text((await busy.sandbox.invoke(req("GET", "/"))).body), "done");
    }
    await busy.sandbox.invoke(req("GET", "/"));
    assert.equal(busy.sandbox.where, "sandbox process");
    assert.ok(Date.now() - started >= 1_900, `moved after ${Date.now() - started} ms`);
    assert.match(busy.sandbox.movedBecause ?? "", /ms of CPU a second, two seconds in a row/);
    for (let i = 0; i < 300; i++) await light.sandbox.invoke(req("GET", "/"));
    assert.equal(light.sandbox.where, "worker");
    // Many requests waiting at once each see the isolate's CPU while they wait: summed per
    // request that looked heavy; the agent's own CPU does not.
    const waiting = await agent(
      `export default { async fetch() { await new Promise((r) => setTimeout(r, 150)); return new Response("waited"); } };`,
    );
    for (let round = 0; round < 3; round++) {
      const answers = await Promise.all(
        Array.from({ length: 50 }, () => waiting.sandbox.invoke(req("GET", "/"))),
      );
      assert.ok(answers.every((a) => text(a.body) === "waited"));
    }
    assert.equal(waiting.sandbox.where, "worker");
  });

  test("an answer no transport may carry (status 999) moves the agent; the caller gets AGENT_BAD_RESPONSE either side", async () => {
    const { sandbox } = await agent(
      `class R extends Response { get status() { return 999; } } export default { fetch() { return new R("x"); } };`,
    );
    await assert.rejects(sandbox.invoke(req("GET", "/")), { code: "AGENT_BAD_RESPONSE" });
    await assert.rejects(sandbox.invoke(req("GET", "/")), (err: unknown) => {
      assert.ok(err instanceof VeilError);
      assert.equal(err.code, "AGENT_BAD_RESPONSE");
      assert.equal(err.status, 502);
      return true;
    });
    assert.equal(sandbox.where, "sandbox process");
  });

  test("a moved agent's flood of state reads reaches the worker at most 16 at a time, every one answered", async () => {
    const { sandbox, state } = await agent(
      `export default { async fetch(request, env, ctx) {
        if (new URL(request.url).pathname === "/spin") for (;;) {}
        const got = await Promise.all(Array.from({ length: 300 }, (_, i) => ctx.state.get("k" + (i % 7))));
        return new Response(String(got.filter((v) => v !== undefined).length));
      } };`,
    );
    await assert.rejects(sandbox.invoke(req("GET", "/spin")), { code: "LIMIT_CPU_EXCEEDED" });
    let open = 0;
    let most = 0;
    const get = state.get;
    state.get = async (name) => {
      most = Math.max(most, ++open);
      await sleep(5);
      open--;
      return get(name);
    };
    state.values.set("k0", new Uint8Array([1]));
    const r = await sandbox.invoke(req("GET", "/"));
    assert.equal(sandbox.where, "sandbox process");
    assert.equal(text(r.body), String(Math.ceil(300 / 7)));
    assert.ok(most <= 16 && most >= 8, `${most} reads at once on the worker`);
  });

  test("the sandbox process killed (-9) mid-request: that request fails retryable, the next is served from a new one", async () => {
    const { sandbox } = await agent(
      `export default { async fetch(request) { if (new URL(request.url).pathname === "/slow") await new Promise((r) => setTimeout(r, 2000)); if (new URL(request.url).pathname === "/spin") for (;;) {} return new Response("alive"); } };`,
    );
    await assert.rejects(sandbox.invoke(req("GET", "/spin")), { code: "LIMIT_CPU_EXCEEDED" });
    assert.equal(text((await sandbox.invoke(req("GET", "/"))).body), "alive");
    const before = placement.processPid!;
    const slow = sandbox.invoke(req("GET", "/slow"));
    await sleep(100);
    process.kill(before, "SIGKILL");
    await assert.rejects(slow, (err: unknown) => {
      assert.ok(err instanceof VeilError);
      assert.equal(err.code, "AGENT_CRASHED");
      assert.equal(err.retryable, true);
      return true;
    });
    assert.equal(text((await sandbox.invoke(req("GET", "/"))).body), "alive");
    assert.notEqual(placement.processPid, before);
    assert.equal(sandbox.where, "sandbox process");
  });
});
