// Floods from inside an agent: host calls never awaited, promises by the million, an endless
// await loop, recursion without end, strings doubled until they break, and more requests at
// once than the agent may run. Each ends in a typed error or a refusal the agent sees, and the
// bystander keeps its answers.
import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { after, describe, test } from "node:test";
import type { VeilError } from "../../../src/errors/index.ts";
import { IsolateSandbox } from "../../../src/sandbox/isolate.ts";
import type { AgentStateBackend, SandboxLimits } from "../../../src/sandbox/types.ts";
import { assertBystanderUnharmed, attacker, codeOf, req, rssMb, text, withBystander } from "./harness.ts";

/** A state store that answers slowly: calls the agent does not await pile up on the host. */
function slowState(): AgentStateBackend & { most: number } {
  let now = 0;
  const store = {
    /** The most calls the store had waiting at once. */
    most: 0,
    async get() {
      now++;
      store.most = Math.max(store.most, now);
      await new Promise((r) => setTimeout(r, 200));
      now--;
      return undefined;
    },
    async put() {},
    async delete() {
      return false;
    },
    async list() {
      return [];
    },
  };
  return store;
}

describe("hostile agents: floods", () => {
  const open: { dispose(): void }[] = [];
  after(() => {
    for (const s of open) s.dispose();
  });

  test("host calls never awaited are refused past the cap; the host holds a bounded number", async () => {
    // 60,000 of them crashed the worker's process (isolated-vm's native memory per waiting call).
    const state = slowState();
    const sandbox = await IsolateSandbox.create({
      meta: { id: "66", name: "attacker", codeHash: `0x${"66".repeat(32)}` },
      code: `export default { async fetch(request, env, ctx) {
        let refused = 0, message = "";
        const all = [];
        for (let i = 0; i < Number(new URL(request.url).searchParams.get("n") ?? 20000); i++) all.push(ctx.state.get("k").catch((e) => { refused++; message = e.message; }));
        await Promise.all(all);
        return Response.json({ refused, message });
      } };`,
      state,
      limits: { memoryMb: 64, cpuTimeMs: 2_000 },
    });
    open.push(sandbox);
    const before = rssMb();
    const { result, bystander } = await withBystander(async () =>
      JSON.parse(text((await sandbox.invoke(req("/"))).body)),
    );
    // 512 wait at the most, of which 64 at once on the host (its main thread is everyone's).
    assert.ok(state.most <= 64, `${state.most} state calls were waiting in the store at once`);
    assert.ok(result.refused >= 20000 - 4 * 512, `${result.refused} refused`);
    assert.match(result.message, /512 host calls .* already waiting; await some first/);
    assert.ok(rssMb() - before < 64, `RSS grew ${(rssMb() - before).toFixed(0)} MiB`);
    assertBystanderUnharmed(bystander);
  });

  test("many host calls at once under the cap all get their answers, 64 at a time on the host", async () => {
    const state = slowState();
    const sandbox = await IsolateSandbox.create({
      meta: { id: "67", name: "busy", codeHash: `0x${"67".repeat(32)}` },
      code: `export default { async fetch(request, env, ctx) {
        const order = [];
        await Promise.all(Array.from({ length: 300 }, (_, i) => ctx.state.get("k").then(() => order.push(i))));
        return Response.json({ answered: order.length, inOrder: order.every((v, i) => i === 0 || v > order[i - 1]) });
      } };`,
      state,
      limits: { memoryMb: 64 },
    });
    open.push(sandbox);
    const result = JSON.parse(text((await sandbox.invoke(req("/"))).body));
    assert.deepEqual(result, { answered: 300, inOrder: true });
    assert.ok(state.most <= 64, `${state.most} state calls were on the host at once`);
    assert.ok(state.most >= 32, `only ${state.most} at once: calls are held back more than the cap says`);
  });

  test("fetches in flight cannot make the host hold their answers: the agent's own memory pays", async () => {
    // Answers of 6 MiB in twelve pieces. The last piece of any answer goes out only once all
    // twelve answers have had eleven sent (or were cut by the worker), so that they are all being
    // received at once, however slowly a loaded machine runs the test: an answer finished early
    // would give its bytes back and let a later one through, which is allowed.
    const atLastPiece: (() => void)[] = [];
    let gone = 0;
    const releaseWhenAllWait = () => {
      if (atLastPiece.length + gone === 12) for (const last of atLastPiece.splice(0)) last();
    };
    // One piece for every answer, written only as the socket takes it: what this in-process
    // upstream holds must not be counted as the host's.
    const piece = Buffer.alloc(512 * 1024, 1);
    const upstream = createServer((_req, res) => {
      res.writeHead(200, { "content-type": "application/octet-stream" });
      let sent = 0;
      let waiting = false;
      res.on("close", () => {
        if (sent === 12) return;
        gone++;
        if (waiting) atLastPiece.splice(atLastPiece.indexOf(finish), 1);
        releaseWhenAllWait();
      });
      const finish = () => {
        sent++;
        res.end(piece);
      };
      const more = () => {
        if (res.destroyed) return;
        if (sent === 11) {
          waiting = true;
          atLastPiece.push(finish);
          return releaseWhenAllWait();
        }
        sent++;
        if (res.write(piece)) setTimeout(more, 20);
        else res.once("drain", () => setTimeout(more, 20));
      };
      more();
    });
    await new Promise<void>((r) => upstream.listen(0, "127.0.0.1", r));
    // Closed whatever happens: a server left listening keeps the test file's process alive.
    open.push({
      dispose: () => {
        upstream.closeAllConnections();
        upstream.close();
      },
    });
    const port = (upstream.address() as AddressInfo).port;
    const { sandbox } = await attacker(
      `export default { async fetch() {
        const results = await Promise.all(Array.from({ length: 12 }, () =>
          fetch("http://127.0.0.1:${port}/").then(async (r) => (await r.arrayBuffer()).byteLength, (e) => e.message)));
        return Response.json(results);
      } };`,
      {
        memoryMb: 32,
        // What is under test is the memory held; copying 72 MiB in costs CPU on a loaded machine.
        cpuTimeMs: 2_000,
        wallTimeMs: 10_000,
        egress: {
          allowHosts: [`127.0.0.1:${port}`],
          maxRequestBytes: 1 << 20,
          maxResponseBytes: 8 << 20,
          timeoutMs: 5_000,
          maxConcurrent: 16,
          maxFetchesPerRequest: 50,
        },
      },
    );
    open.push(sandbox);
    // The host hands each answer over as it arrives and keeps at most 64 KiB of it (host-fetch.ts):
    // 72 MiB of answers land in the agent's 32 MiB heap, which is the agent's limit to hit.
    await assert.rejects(sandbox.invoke(req("/")), (e: VeilError) => e.code === "LIMIT_MEMORY_EXCEEDED");
    const held = sandbox.peakHeldFetchBytes;
    assert.ok(held > 0, "the answers went through the host");
    assert.ok(held <= 2 * 1024 * 1024, `the host held ${Math.round(held / 1024)} KiB of the agent's answers`);
  });

  // Memory attacks get CPU enough to meet their memory limit first, on a loaded machine too.
  const roomy = { cpuTimeMs: 2_000, wallTimeMs: 5_000 };
  const limited: [string, string, RegExp, Partial<SandboxLimits>?][] = [
    [
      "a million pending promises",
      `const a = []; for (let i = 0; i < 1e7; i++) a.push(new Promise(() => {}));`,
      /^LIMIT_(CPU|MEMORY)_EXCEEDED$/,
    ],
    ["for (;;) await null", `for (;;) await null;`, /^LIMIT_CPU_EXCEEDED$/],
    [
      "a fork of microtasks",
      `const s = () => { Promise.resolve().then(s); Promise.resolve().then(s); }; s(); await new Promise(() => {});`,
      /^LIMIT_(CPU|MEMORY)_EXCEEDED$/,
    ],
    [
      "an array grown without end",
      `const a = []; for (;;) a.push(new Array(1e5).fill(1));`,
      /^LIMIT_MEMORY_EXCEEDED$/,
      roomy,
    ],
    [
      "array buffers kept without end",
      `const a = []; for (;;) a.push(new ArrayBuffer(1 << 20));`,
      /^LIMIT_MEMORY_EXCEEDED$|^AGENT_THREW$/,
      roomy,
    ],
  ];
  for (const [what, code, expected, limits] of limited) {
    test(`${what}: a typed limit error; the agent serves the next call`, async () => {
      const { sandbox } = await attacker(
        `export default { async fetch(request) {
          if (new URL(request.url).pathname === "/attack") { ${code} }
          return new Response("quiet");
        } };`,
        limits,
      );
      open.push(sandbox);
      const before = rssMb();
      const { result: err, bystander } = await withBystander(() => codeOf(sandbox.invoke(req("/attack"))));
      assert.match(err.code, expected);
      assert.ok(rssMb() - before < 64 + 64, `RSS grew ${(rssMb() - before).toFixed(0)} MiB`);
      assert.equal(text((await sandbox.invoke(req("/"))).body), "quiet");
      assertBystanderUnharmed(bystander);
    });
  }

  test("recursion without end and strings doubled without end are errors the agent can catch", async () => {
    const { sandbox } = await attacker(`export default { async fetch() {
        const out = {};
        const f = (n) => f(n + 1) + 1;
        try { f(0); } catch (e) { out.recursion = e.name; }
        let s = "x";
        try { for (;;) s += s; } catch (e) { out.string = e.name; }
        return Response.json(out);
      } };`);
    open.push(sandbox);
    assert.deepEqual(JSON.parse(text((await sandbox.invoke(req("/"))).body)), {
      recursion: "RangeError",
      string: "RangeError",
    });
  });

  test("a 7 MiB string answer fits an 8 MiB response limit in a 64 MiB agent", async () => {
    const { sandbox } = await attacker(
      `export default { fetch() { return new Response("x".repeat(7 * 1024 * 1024)); } };`,
      roomy,
    );
    open.push(sandbox);
    const res = await sandbox.invoke(req("/"));
    assert.equal(res.body.byteLength, 7 * 1024 * 1024);
  });

  test("more requests at once than the agent may run: the rest are 429 LIMIT_CONCURRENCY_EXCEEDED, at once", async () => {
    const { sandbox } = await attacker(
      `export default { async fetch() { await new Promise((r) => setTimeout(r, 200)); return new Response("ran"); } };`,
      { maxConcurrent: 8 },
    );
    open.push(sandbox);
    const { result, bystander } = await withBystander(async () =>
      Promise.all(
        Array.from({ length: 200 }, () =>
          sandbox.invoke(req("/")).then(
            (r) => text(r.body),
            (e) => e.code as string,
          ),
        ),
      ),
    );
    assert.equal(result.filter((r) => r === "ran").length, 8);
    assert.equal(result.filter((r) => r === "LIMIT_CONCURRENCY_EXCEEDED").length, 192);
    assertBystanderUnharmed(bystander);
  });
});
