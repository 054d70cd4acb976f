// Timers from a stranger's agent: set and cleared in a loop (the clear only forgot the id and
// the host timer stayed: 30,000 a call pinned ~110 MB of a worker), or set and never cleared.
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import {
  assertBystanderUnharmed,
  attacker,
  codeOf,
  req,
  rssMb,
  sleep,
  text,
  withBystander,
} from "./harness.ts";

describe("hostile agents: timers", () => {
  const open: { dispose(): void }[] = [];
  after(() => {
    for (const s of open) s.dispose();
  });

  test("30,000 day-long timers set and cleared a call hold nothing on the host", async () => {
    const { sandbox } = await attacker(`export default { async fetch() {
        for (let i = 0; i < 30000; i++) clearTimeout(setTimeout(() => {}, 86400000));
        return new Response("churned");
      } };`);
    open.push(sandbox);
    await sandbox.invoke(req("/"));
    const before = rssMb();
    const { result: took, bystander } = await withBystander(async () => {
      const times = [];
      for (let i = 0; i < 5; i++) {
        const t = Date.now();
        assert.equal(text((await sandbox.invoke(req("/"))).body), "churned");
        times.push(Date.now() - t);
      }
      return times;
    });
    assert.ok(rssMb() - before < 40, `RSS grew ${(rssMb() - before).toFixed(0)} MiB over 150,000 timers`);
    assert.ok(Math.max(...took) < 1_000, `calls took ${took.join(", ")} ms`);
    assertBystanderUnharmed(bystander);
  });

  test("timers set and never cleared are capped per realm, with a RangeError the agent sees", async () => {
    const { sandbox } = await attacker(`export default { async fetch() {
        let n = 0;
        try { for (;;) { setTimeout(() => {}, 86400000); n++; } } catch (e) { return Response.json({ n, error: e.name + ": " + e.message }); }
      } };`);
    open.push(sandbox);
    const before = rssMb();
    const { result, bystander } = await withBystander(async () =>
      JSON.parse(text((await sandbox.invoke(req("/"))).body)),
    );
    assert.deepEqual(result, { n: 10000, error: "RangeError: More than 10000 timers pending" });
    // The next call has no room either: the timers are still pending, and still bounded.
    const again = JSON.parse(text((await sandbox.invoke(req("/"))).body));
    assert.equal(again.n, 0);
    assert.ok(rssMb() - before < 40, `RSS grew ${(rssMb() - before).toFixed(0)} MiB`);
    assertBystanderUnharmed(bystander);
  });

  test("timers still fire in order, intervals repeat and clear, and a callback's error reaches the log", async () => {
    const { sandbox, logs } = await attacker(`export default { async fetch() {
        const seen = [];
        await new Promise((done) => {
          setTimeout(() => seen.push("c"), 30);
          setTimeout(() => seen.push("a"), 10);
          const cleared = setTimeout(() => seen.push("never"), 15);
          clearTimeout(cleared);
          setTimeout(() => seen.push("b"), 10);
          let ticks = 0;
          const iv = setInterval(() => { ticks++; if (ticks === 3) { clearInterval(iv); seen.push("iv3"); } }, 5);
          setTimeout(() => { throw new Error("boom in a timer"); }, 1);
          setTimeout(done, 60);
        });
        return Response.json(seen);
      } };`);
    open.push(sandbox);
    const seen = JSON.parse(text((await sandbox.invoke(req("/"))).body));
    assert.deepEqual(
      seen.filter((s: string) => s !== "iv3"),
      ["a", "b", "c"],
    );
    assert.ok(seen.includes("iv3"));
    assert.ok(
      logs.some((l) => /Uncaught \(in a timer\) Error: boom in a timer/.test(l)),
      logs.join(" | "),
    );
  });

  test("a timer loop that waits past the wall time fails that request alone", async () => {
    const { sandbox } = await attacker(
      `export default { async fetch(request) {
        if (new URL(request.url).pathname === "/wait") await new Promise((r) => setTimeout(r, 60000));
        return new Response("ok");
      } };`,
      { wallTimeMs: 300 },
    );
    open.push(sandbox);
    const [waited, ok] = await Promise.all([
      codeOf(sandbox.invoke(req("/wait"))),
      sleep(20).then(() => sandbox.invoke(req("/"))),
    ]);
    assert.equal(waited.code, "LIMIT_WALL_TIME_EXCEEDED");
    assert.equal(text(ok.body), "ok");
  });
});
