// WebAssembly from a stranger's agent: memories outside the V8 heap (a worker's RSS went from
// 177 to 1,225 MB over four calls while the usage receipt said 0.7 MB), and compilation that never
// settled. Memories are bounded by the agent's memory limit where they are made (docs/adr/0018).
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { assertBystanderUnharmed, attacker, codeOf, req, rssMb, text, withBystander } from "./harness.ts";
import { ADD_MODULE, memoryModule } from "./wasm-bytes.ts";

const json = async (p: Promise<{ body: Uint8Array }>) => JSON.parse(text((await p).body));

describe("hostile agents: WebAssembly", () => {
  const open: { dispose(): void }[] = [];
  after(() => {
    for (const s of open) s.dispose();
  });

  test("WebAssembly.instantiate and compile settle, with the module's answer", async () => {
    const { sandbox } = await attacker(`const bytes = new Uint8Array(${JSON.stringify(ADD_MODULE)});
      export default { async fetch() {
        const { instance, module } = await WebAssembly.instantiate(bytes);
        const again = await WebAssembly.instantiate(await WebAssembly.compile(bytes.buffer));
        return Response.json({ sum: instance.exports.add(2, 3), again: again.exports.add(40, 2),
          isModule: module instanceof WebAssembly.Module, valid: WebAssembly.validate(bytes) });
      } };`);
    open.push(sandbox);
    const started = Date.now();
    assert.deepEqual(await json(sandbox.invoke(req("/"))), {
      sum: 5,
      again: 42,
      isModule: true,
      valid: true,
    });
    assert.ok(Date.now() - started < 1_000, "it settled at once, not at the wall-time limit");
  });

  test("a memory grown far past the limit is refused where it grows; the worker's memory stays put", async () => {
    const { sandbox } = await attacker(`const kept = [];
      export default { async fetch() {
        const m = new WebAssembly.Memory({ initial: 1, maximum: 65536 });
        kept.push(m);
        m.grow(4095);
        new Uint8Array(m.buffer).fill(1);
        return Response.json({ kept: kept.length });
      } };`);
    open.push(sandbox);
    const before = rssMb();
    const { result: errors, bystander } = await withBystander(async () => {
      const out = [];
      for (let i = 0; i < 4; i++) out.push(await codeOf(sandbox.invoke(req("/"))));
      return out;
    });
    // The first call's grow is refused; later calls' memories no longer fit beside those kept.
    assert.match(errors[0]!.message, /RangeError: WebAssembly\.Memory\.grow: .*memory limit is 64 MiB/);
    for (const e of errors) {
      assert.equal(e.code, "AGENT_THREW");
      assert.match(e.message, /RangeError: WebAssembly.*64 MiB/);
    }
    assert.ok(rssMb() - before < 64 + 48, `RSS grew ${(rssMb() - before).toFixed(0)} MiB`);
    assertBystanderUnharmed(bystander);
  });

  test("memories that each fit but together do not are refused: each one's maximum is reserved", async () => {
    const { sandbox } = await attacker(`const kept = [];
      export default { async fetch() {
        try {
          for (;;) kept.push(new WebAssembly.Memory({ initial: 1, maximum: 512 }));
        } catch (e) {
          return Response.json({ made: kept.length, error: e.name + ": " + e.message });
        }
      } };`);
    open.push(sandbox);
    const { result, bystander } = await withBystander(() => json(sandbox.invoke(req("/"))));
    // 32 MiB each against 64 MiB (and the few MiB more V8's heap limit has over isolated-vm's).
    assert.ok(result.made >= 1 && result.made <= 2, `${result.made} memories of 32 MiB were made`);
    assert.match(
      result.error,
      /^RangeError: WebAssembly: a memory of 32 MiB does not fit .* 64 MiB memory limit/,
    );
    assertBystanderUnharmed(bystander);
  });

  test("a module's own memory grown by wasm code stops at its capped maximum", async () => {
    const { sandbox } = await attacker(`const noMax = new Uint8Array(${JSON.stringify(memoryModule(1))});
      const bigMax = new Uint8Array(${JSON.stringify(memoryModule(1, 65536))});
      export default { async fetch(request) {
        const which = new URL(request.url).pathname === "/big" ? bigMax : noMax;
        const { instance } = await WebAssembly.instantiate(which);
        const { grow, mem } = instance.exports;
        const past = grow(4095);
        const upTo = grow(511);
        const one = grow(1);
        return Response.json({ past, upTo, one, mib: mem.buffer.byteLength / 1048576 });
      } };`);
    open.push(sandbox);
    const before = rssMb();
    for (const path of ["/", "/big"]) {
      // 64 MiB limit: a memory may have half, 512 pages; growing beyond answers -1, as wasm does.
      assert.deepEqual(await json(sandbox.invoke(req(path))), { past: -1, upTo: 1, one: -1, mib: 32 });
    }
    assert.ok(rssMb() - before < 96, `RSS grew ${(rssMb() - before).toFixed(0)} MiB`);
  });

  test("the engine's own constructors are out of reach, and shared memories are refused", async () => {
    const { sandbox } = await attacker(`export default { async fetch() {
        const m = new WebAssembly.Memory({ initial: 1 });
        const Ctor = m.constructor;
        const viaProto = Object.getPrototypeOf(m).constructor;
        let grew;
        try { new Ctor({ initial: 1, maximum: 65536 }).grow(4095); grew = true; } catch (e) { grew = e.name; }
        let shared;
        try { new WebAssembly.Memory({ initial: 1, maximum: 2, shared: true }); shared = "made"; } catch (e) { shared = e.name; }
        let called;
        try { WebAssembly.Memory({ initial: 1 }); called = "made"; } catch (e) { called = e.name; }
        return Response.json({ same: Ctor === WebAssembly.Memory && viaProto === WebAssembly.Memory,
          grew, shared, called, frozen: Object.isFrozen(WebAssembly) });
      } };`);
    open.push(sandbox);
    assert.deepEqual(await json(sandbox.invoke(req("/"))), {
      same: true,
      grew: "RangeError",
      shared: "TypeError",
      called: "TypeError",
      frozen: true,
    });
  });
});
