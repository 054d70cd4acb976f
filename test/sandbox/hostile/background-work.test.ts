// Work after the response: timers, ctx.waitUntil and promises still running once the handler has
// answered. Before, the limit watch stopped at the response: `setTimeout(() => { for (;;) {} }, 50)`
// burned a core for ever and three such agents slowed every other agent on the worker. Now that
// CPU comes out of the agent's background budget, and the isolate goes when it is spent.
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { assertBystanderUnharmed, attacker, cpuShare, req, sleep, text, withBystander } from "./harness.ts";

const BACKGROUND_LOG = /LIMIT_BACKGROUND_CPU_EXCEEDED: work after the response .* its isolate was stopped/;

describe("hostile agents: work after the response", () => {
  const open: { dispose(): void }[] = [];
  after(() => {
    for (const s of open) s.dispose();
  });

  const attacks: [string, string][] = [
    ["a synchronous loop in a timer", `setTimeout(() => { for (;;) {} }, 50);`],
    [
      "an endless await loop in ctx.waitUntil",
      `ctx.waitUntil(new Promise((r) => setTimeout(r, 20)).then(async () => { for (;;) await null; }));`,
    ],
    [
      "a 1 ms interval of busy callbacks, never cleared",
      `setInterval(() => { const t = Date.now(); while (Date.now() - t < 5) {} }, 1);`,
    ],
    [
      "timers that re-arm themselves for ever",
      `const again = () => { for (let i = 0; i < 1e5; i++) Math.sqrt(i); setTimeout(again, 0); }; setTimeout(again, 0);`,
    ],
  ];
  for (const [what, code] of attacks) {
    test(`${what} is stopped by the background budget; the bystander never notices`, async () => {
      const { sandbox, logs } = await attacker(
        `export default { async fetch(request, env, ctx) { ${code} return Response.json({ answered: true }); } };`,
        { cpuTimeMs: 200 },
      );
      open.push(sandbox);
      const { result, bystander } = await withBystander(async () => {
        const res = await sandbox.invoke(req("/"));
        const started = Date.now();
        while (!logs.some((l) => BACKGROUND_LOG.test(l)) && Date.now() - started < 10_000) await sleep(20);
        return { status: res.status, body: text(res.body), stoppedAfterMs: Date.now() - started };
      });
      assert.deepEqual(
        { status: result.status, body: result.body },
        { status: 200, body: '{"answered":true}' },
      );
      assert.ok(
        logs.some((l) => BACKGROUND_LOG.test(l)),
        `the owner's log says why the agent was stopped: ${logs.join(" | ")}`,
      );
      // Stopped once it has used its 200 ms of CPU: soon on an idle machine, later on a loaded one.
      assert.ok(result.stoppedAfterMs < 10_000, `stopped ${result.stoppedAfterMs} ms after the answer`);
      // Nothing of the attacker runs on: the process is idle again. The isolate is disposed of on
      // isolated-vm's disposer thread (ADR 0018), which a loaded machine may reach a moment later:
      // the process must be idle within a few seconds, never burning on.
      const shares: number[] = [];
      for (let i = 0; i < 8 && (shares.at(-1) ?? 1) >= 0.3; i++) shares.push(await cpuShare(400));
      assert.ok(
        shares.at(-1)! < 0.3,
        `the process used ${shares.map((x) => `${(x * 100).toFixed(0)}%`).join(", ")} of a core in the 400 ms spans after the attacker was stopped`,
      );
      assertBystanderUnharmed(bystander);
      // The agent answers again, in a new isolate, and its budget is what was left (not refilled).
      const again = await sandbox.invoke(req("/quiet"));
      assert.equal(again.status, 200);
    });
  }

  test("an agent reset by its background budget does not get a fresh budget from the reset", async () => {
    const { sandbox, logs } = await attacker(
      `export default { async fetch() { setTimeout(() => { for (;;) {} }, 10); return new Response("ok"); } };`,
      { cpuTimeMs: 200 },
    );
    open.push(sandbox);
    await sandbox.invoke(req("/"));
    while (logs.length === 0) await sleep(10);
    // Again at once: the bucket is nearly empty, so this loop is stopped within a few sweeps.
    const before = process.cpuUsage();
    await sandbox.invoke(req("/"));
    while (logs.length < 2) await sleep(5);
    const used = process.cpuUsage(before);
    assert.ok(
      (used.user + used.system) / 1000 < 150,
      `the second loop ran ${(used.user + used.system) / 1000} ms`,
    );
  });

  test("a bare timer loop is held to one wake every 4 ms, as browsers clamp nested timers, and runs out", async () => {
    const { sandbox, logs } = await attacker(
      `let wakes = 0;
      export default { async fetch(request) {
        if (new URL(request.url).pathname === "/count") return Response.json({ wakes });
        const again = () => { wakes++; setTimeout(again, 0); };
        again();
        return new Response("ok");
      } };`,
      { cpuTimeMs: 60 },
    );
    open.push(sandbox);
    await sandbox.invoke(req("/"));
    await sleep(300);
    const { wakes } = JSON.parse(text((await sandbox.invoke(req("/count"))).body));
    assert.ok(wakes > 10 && wakes < 120, `${wakes} wakes in 300 ms`);
    // Each wake's host work is charged (0.1 ms): 60 ms of budget is a few hundred wakes.
    const started = Date.now();
    while (!logs.some((l) => BACKGROUND_LOG.test(l)) && Date.now() - started < 5_000) await sleep(20);
    assert.ok(
      logs.some((l) => BACKGROUND_LOG.test(l)),
      "stopped once its budget was spent",
    );
  });

  test("a little background work (a waitUntil after the answer) runs to its end", async () => {
    const { sandbox, logs } = await attacker(`let done = 0;
      export default { async fetch(request, env, ctx) {
        if (new URL(request.url).pathname === "/count") return Response.json({ done });
        ctx.waitUntil(new Promise((r) => setTimeout(r, 30)).then(() => { done++; console.log("flushed"); }));
        return new Response("ok");
      } };`);
    open.push(sandbox);
    for (let i = 0; i < 5; i++) await sandbox.invoke(req("/"));
    await sleep(100);
    assert.equal(text((await sandbox.invoke(req("/count"))).body), '{"done":5}');
    assert.deepEqual(logs, Array(5).fill("log: flushed"));
  });
});
