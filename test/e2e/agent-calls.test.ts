import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { VeilError } from "../../src/errors/index.ts";
import { VeilClient } from "../../src/sdk/client.ts";
import { readNetwork, startNetwork, stopNetwork, veil } from "../helpers/cli.ts";

// ctx.agents.call on a real network (`veil up`): sealed to the callee, through the gateway, with
// the caller's identity signed by its agent key and checked against the chain.
const TOOL = `export default { async fetch(request: Request, _env: unknown, ctx: any) {
  const u = new URL(request.url);
  if (u.pathname === "/back") {
    try { await ctx.agents.call("planner", "/plan"); return new Response("no cycle?"); }
    catch (e: any) { return Response.json({ code: e.code, name: e.name }, { status: 508 }); }
  }
  const q = request.method === "POST" ? await request.json() : { a: 0, b: 0 };
  return Response.json({ sum: q.a + q.b, caller: ctx.caller, header: request.headers.get("x-veil-caller-id"), deadline: ctx.deadline });
} };
`;
const PLANNER = `export default { async fetch(request: Request, _env: unknown, ctx: any) {
  const u = new URL(request.url);
  try {
    if (u.pathname === "/self") { await ctx.agents.call("planner", "/plan"); return new Response("no cycle?"); }
    if (u.pathname === "/cycle") return await ctx.agents.call("tool", "/back");
    const r = await ctx.agents.call("tool", { path: "/add", method: "POST", body: JSON.stringify({ a: 2, b: 40 }), timeoutMs: 5000 });
    return Response.json({ planner: ctx.agent.id, tool: await r.json() });
  } catch (e: any) { return Response.json({ code: e.code, name: e.name, message: e.message }, { status: 500 }); }
} };
`;

describe("agent-to-agent calls", { timeout: 300_000 }, () => {
  const work = mkdtempSync(join(tmpdir(), "veil-calls-"));
  const dir = join(work, ".veil");
  const env = { VEIL_NETWORK: join(dir, "network.json") };
  let network: Awaited<ReturnType<typeof startNetwork>>;
  let client: VeilClient;
  const ids: Record<string, string> = {};

  before(async () => {
    network = await startNetwork(dir);
    client = new VeilClient(readNetwork(dir) as unknown as ConstructorParameters<typeof VeilClient>[0]);
    for (const [name, code] of [
      ["tool", TOOL],
      ["planner", PLANNER],
    ] as const) {
      mkdirSync(join(work, name, "src"), { recursive: true });
      writeFileSync(join(work, name, "src", "index.ts"), code);
      const d = await veil(["deploy", join(work, name), "--name", name], { env });
      assert.equal(d.code, 0, d.stderr);
      ids[name] = (await client.identity(name)).id.toString();
    }
  });
  after(async () => {
    if (network) await stopNetwork(network.child);
    rmSync(work, { recursive: true, force: true });
  });

  test("the callee sees the caller's verified id and address, and inherits its deadline", async () => {
    const res = await client.invoke("planner", { path: "/plan" });
    const json = JSON.parse(new TextDecoder().decode(res.body));
    assert.equal(res.status, 200, JSON.stringify(json));
    assert.equal(json.tool.sum, 42);
    assert.equal(json.tool.caller.agentId, ids.planner);
    assert.equal(
      json.tool.caller.address.toLowerCase(),
      (await client.identity("planner")).address.toLowerCase(),
    );
    assert.equal(json.tool.header, ids.planner);
    assert.ok(json.tool.deadline > Date.now() - 10_000 && json.tool.deadline <= Date.now() + 5_000);
  });

  test("a direct call carries no caller, and a hand-made caller header is stripped or refused", async () => {
    const plain = await client.invoke("tool", { path: "/add", headers: { "x-veil-caller-id": "999" } });
    assert.equal(JSON.parse(new TextDecoder().decode(plain.body)).caller, null);
    const sealed = await client.invoke("tool", {
      path: "/add",
      encrypt: true,
      headers: { "x-veil-caller-id": "999" },
    });
    const json = JSON.parse(new TextDecoder().decode(sealed.body));
    assert.equal(json.caller, null);
    assert.equal(json.header, null);
    const forged = Buffer.from(
      JSON.stringify({
        caller: ids.planner,
        callee: ids.tool,
        chain: [ids.planner],
        deadline: 0,
        requestHash: `0x${"00".repeat(32)}`,
        signature: `0x${"11".repeat(65)}`,
      }),
    ).toString("base64");
    await assert.rejects(
      client.invoke("tool", { path: "/add", encrypt: true, headers: { "x-veil-call": forged } }),
      (e: unknown) => e instanceof VeilError && e.code === "CALLER_UNVERIFIED",
    );
  });

  test("cycles are refused with a typed error", async () => {
    const self = await client.invoke("planner", { path: "/self" });
    assert.deepEqual(JSON.parse(new TextDecoder().decode(self.body)).code, "CALL_CYCLE");
    const cycle = await client.invoke("planner", { path: "/cycle" });
    const json = JSON.parse(new TextDecoder().decode(cycle.body));
    assert.equal(cycle.status, 508);
    assert.deepEqual(json, { code: "CALL_CYCLE", name: "AgentCallError" });
  });

  test("overhead of an agent-to-agent call (printed)", async () => {
    const time = async (f: () => Promise<unknown>) => {
      const t = process.hrtime.bigint();
      for (let i = 0; i < 10; i++) await f();
      return Number(process.hrtime.bigint() - t) / 1e7;
    };
    const direct = await time(() => client.invoke("tool", { path: "/add", encrypt: true }));
    const viaPlanner = await time(() => client.invoke("planner", { path: "/plan", encrypt: true }));
    console.log(`direct sealed invoke ${direct.toFixed(1)} ms; planner → tool ${viaPlanner.toFixed(1)} ms`);
  });
});
