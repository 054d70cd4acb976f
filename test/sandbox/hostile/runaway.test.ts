// An agent stopped by its limits on every call, called without pause: each call used to cost a
// core its whole CPU limit, for as long as the attacker kept calling. From the third stop within
// a minute it is held back, for a pause that doubles with each stop.
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { assertBystanderUnharmed, attacker, codeOf, req, sleep, text, withBystander } from "./harness.ts";

describe("hostile agents: stopped again and again", () => {
  const open: { dispose(): void }[] = [];
  after(() => {
    for (const s of open) s.dispose();
  });

  test("an agent that breaks its CPU limit on every call is held back, and costs ever less", async () => {
    const { sandbox, logs } = await attacker(
      `export default { fetch(request) { if (new URL(request.url).pathname === "/spin") for (;;) {} return new Response("calm"); } };`,
      { cpuTimeMs: 100 },
    );
    open.push(sandbox);
    const codes: string[] = [];
    const cpu = process.cpuUsage();
    const { bystander } = await withBystander(async () => {
      const end = Date.now() + 3_000;
      while (Date.now() < end) {
        const e = await codeOf(sandbox.invoke(req("/spin")));
        codes.push(e.code);
        if (e.code === "AGENT_THROTTLED") {
          assert.equal(e.status, 503);
          assert.equal(e.retryable, true);
          await sleep(10);
        }
      }
    });
    const used = process.cpuUsage(cpu);
    const stops = codes.filter((c) => c === "LIMIT_CPU_EXCEEDED").length;
    // 3 s of calls: a few stops (100 ms of CPU each), then pauses of 100, 200, 400, 800 ms.
    assert.ok(stops >= 3 && stops <= 8, `${stops} stops in 3 s: ${codes.join(" ")}`);
    assert.ok(codes.includes("AGENT_THROTTLED"));
    assert.ok(
      (used.user + used.system) / 1000 < 2_500,
      `the process used ${(used.user + used.system) / 1000} ms of CPU`,
    );
    assert.ok(logs.some((l) => /AGENT_THROTTLED: stopped by LIMIT_CPU_EXCEEDED \d+ times in a row/.test(l)));
    assertBystanderUnharmed(bystander);
  });

  test("a limit broken now and then holds nothing back", async () => {
    const { sandbox } = await attacker(
      `export default { fetch(request) { if (new URL(request.url).pathname === "/spin") for (;;) {} return new Response("calm"); } };`,
      { cpuTimeMs: 100 },
    );
    open.push(sandbox);
    for (let i = 0; i < 2; i++) {
      assert.equal((await codeOf(sandbox.invoke(req("/spin")))).code, "LIMIT_CPU_EXCEEDED");
      assert.equal(text((await sandbox.invoke(req("/"))).body), "calm");
    }
  });
});
