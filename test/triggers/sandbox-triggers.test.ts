import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { VeilError } from "../../src/errors/index.ts";
import { IsolateSandbox } from "../../src/sandbox/isolate.ts";

const meta = {
  id: "7",
  name: "trig",
  codeHash: "0xabc",
  address: "0x1111111111111111111111111111111111111111",
};
const req = {
  method: "POST",
  url: "http://veil.internal/trigger",
  headers: [] as [string, string][],
  body: null,
};

describe("trigger handlers in the sandbox", () => {
  test("onChainRequest gets the event, env and ctx and answers bytes; scheduled runs too", async () => {
    const sandbox = await IsolateSandbox.create({
      meta,
      code: `let ticks = 0;
      export default {
        async onChainRequest(request, env, ctx) { return "0x" + request.payload.slice(2).toUpperCase().replace(/[A-F]/g, "0") + (ctx.agent.id === env.VEIL_AGENT_ID ? "01" : "00"); },
        async scheduled(event) { ticks++; if (event.cron !== "* * * * *") throw new Error("bad event"); },
        async fetch() { return new Response(String(ticks)); },
      };`,
    });
    const res = await sandbox.invoke(req, { kind: "onChainRequest", event: { id: "1", payload: "0x1234" } });
    assert.deepEqual([...res.body], [0x12, 0x34, 0x01]);
    await sandbox.invoke(req, {
      kind: "scheduled",
      event: { cron: "* * * * *", scheduledTime: "x", agentId: "7" },
    });
    const ticks = await sandbox.invoke(req);
    assert.equal(new TextDecoder().decode(ticks.body), "1", "fetch still serves, and saw the tick");
    sandbox.dispose();
  });

  test("an agent without the handler, or one that answers non-bytes, gets a typed error", async () => {
    const sandbox = await IsolateSandbox.create({
      meta,
      code: `export default { async fetch() { return new Response("x"); }, async scheduled() { return 5; } };`,
    });
    await assert.rejects(
      sandbox.invoke(req, { kind: "onChainRequest", event: { id: "1" } }),
      (e: unknown) =>
        e instanceof VeilError && e.code === "AGENT_THREW" && /no onChainRequest/.test(e.message),
    );
    await assert.rejects(
      sandbox.invoke(req, { kind: "scheduled", event: {} }),
      (e: unknown) => e instanceof VeilError && e.code === "AGENT_BAD_RESPONSE",
    );
    sandbox.dispose();
  });
});
