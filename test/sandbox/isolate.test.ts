import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { VeilError } from "../../src/errors/index.ts";
import { IsolateSandbox } from "../../src/sandbox/isolate.ts";
import type { SandboxRequest } from "../../src/sandbox/types.ts";

const meta = { id: "7", name: "t", codeHash: `0x${"00".repeat(32)}` };
const get = (path: string): SandboxRequest => ({
  method: "GET",
  url: `https://t.agents.veil${path}`,
  headers: [],
  body: null,
});
const text = (b: Uint8Array) => new TextDecoder().decode(b);

async function expectCode(promise: Promise<unknown>, code: string): Promise<VeilError> {
  let caught: unknown;
  try {
    await promise;
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof VeilError, `expected ${code}, got ${caught}`);
  assert.equal(caught.code, code, caught.message);
  return caught;
}

describe("IsolateSandbox", () => {
  test("a long run of one-time (end-to-end encrypted) callers does not fill the isolate", async () => {
    // Each one-time caller gets a realm that is dropped after its request; a handle left into
    // a dropped realm kept it alive, and at ~700 requests the isolate ran out of memory.
    const sandbox = await IsolateSandbox.create({
      code: `const big = new Array(2000).fill("x".repeat(8)); export default { fetch() { return new Response(String(big.length)); } };`,
      meta,
    });
    try {
      for (let i = 0; i < 1500; i++) {
        const r = await sandbox.invoke({ ...get("/"), caller: null });
        assert.equal(text(r.body), "2000", `request ${i}`);
      }
      assert.ok(sandbox.realmCount <= 1);
    } finally {
      sandbox.dispose();
    }
  });

  test("runs a web-standard fetch handler with JSON in and out", async () => {
    const sandbox = await IsolateSandbox.create({
      meta,
      code: `export default { async fetch(request, env, ctx) {
        const body = await request.json();
        return Response.json({ hi: body.name, method: request.method, path: new URL(request.url).pathname,
          agent: env.VEIL_AGENT_NAME, ctxId: ctx.agent.id, h: request.headers.get("x-test") }, { status: 201, headers: { "x-out": "1" } });
      } };`,
    });
    const res = await sandbox.invoke({
      method: "POST",
      url: "https://t.agents.veil/greet?x=1",
      headers: [
        ["content-type", "application/json"],
        ["x-test", "yes"],
      ],
      body: new TextEncoder().encode('{"name":"Ada"}'),
    });
    assert.equal(res.status, 201);
    assert.deepEqual(JSON.parse(text(res.body)), {
      hi: "Ada",
      method: "POST",
      path: "/greet",
      agent: "t",
      ctxId: "7",
      h: "yes",
    });
    assert.ok(res.headers.some(([k, v]) => k === "x-out" && v === "1"));
    sandbox.dispose();
  });

  test("binary bodies pass through unchanged", async () => {
    const sandbox = await IsolateSandbox.create({
      meta,
      code: `export default { async fetch(r) { const b = new Uint8Array(await r.arrayBuffer()); return new Response(b.reverse()); } };`,
    });
    const res = await sandbox.invoke({
      method: "POST",
      url: "https://t.agents.veil/",
      headers: [],
      body: new Uint8Array([0, 255, 1, 254]),
    });
    assert.deepEqual([...res.body], [254, 1, 255, 0]);
    sandbox.dispose();
  });

  test("agent code cannot reach process, require, or the host hooks", async () => {
    const sandbox = await IsolateSandbox.create({
      meta,
      code: `export default { fetch() { return Response.json({
        process: typeof process, require: typeof require, host: typeof __veilHost,
        dispatch: typeof __veilDispatch, setAgent: typeof __veilSetAgent, fs: typeof globalThis.fs,
      }); } };`,
    });
    const res = await sandbox.invoke(get("/"));
    assert.deepEqual(JSON.parse(text(res.body)), {
      process: "undefined",
      require: "undefined",
      host: "undefined",
      dispatch: "undefined",
      setAgent: "undefined",
      fs: "undefined",
    });
    sandbox.dispose();
  });

  test("requests that arrive together are answered each on its own: a slow or failing one holds up none", async () => {
    // They cross into the isolate as one batch (ADR 0015); what each gets back must not change.
    const sandbox = await IsolateSandbox.create({
      code: `export default { async fetch(r) {
        const p = new URL(r.url).pathname;
        if (p === "/slow") await new Promise((res) => setTimeout(res, 300));
        if (p === "/throw") throw new Error("boom");
        if (p === "/bad") return "not a response";
        return new Response("fast " + p + " " + r.headers.get("x-n"));
      } };`,
      meta,
    });
    try {
      const started = Date.now();
      const at: Record<string, number> = {};
      const run = (path: string, n: number) =>
        sandbox.invoke({ ...get(path), headers: [["x-n", String(n)]] }).then(
          (r) => {
            at[`${path}#${n}`] = Date.now() - started;
            return text(r.body);
          },
          (err: VeilError) => err.code,
        );
      const answers = await Promise.all([
        run("/a", 1),
        run("/slow", 2),
        run("/throw", 3),
        run("/b", 4),
        run("/bad", 5),
        ...Array.from({ length: 20 }, (_, i) => run(`/c${i}`, 10 + i)),
      ]);
      assert.deepEqual(answers.slice(0, 5), [
        "fast /a 1",
        "fast /slow 2",
        "AGENT_THREW",
        "fast /b 4",
        "AGENT_BAD_RESPONSE",
      ]);
      for (let i = 0; i < 20; i++) assert.equal(answers[5 + i], `fast /c${i} ${10 + i}`);
      assert.ok(at["/slow#2"]! >= 290, "the slow one waited for its timer");
      for (const [k, ms] of Object.entries(at))
        if (k !== "/slow#2") assert.ok(ms < 250, `${k} waited ${ms} ms`);
    } finally {
      sandbox.dispose();
    }
  });

  test("a handler that throws is AGENT_THREW with its message, and the next request works", async () => {
    const logs: string[] = [];
    const sandbox = await IsolateSandbox.create({
      meta,
      log: (_level, message) => logs.push(message),
      code: `export default { fetch(r) { if (new URL(r.url).pathname === "/boom") throw new Error("kaboom"); return new Response("ok"); } };`,
    });
    const err = await expectCode(sandbox.invoke(get("/boom")), "AGENT_THREW");
    assert.match(err.message, /kaboom/);
    assert.ok(logs.some((l) => l.includes("kaboom")));
    assert.equal(text((await sandbox.invoke(get("/"))).body), "ok");
    sandbox.dispose();
  });

  test("a handler that returns something other than a Response is AGENT_BAD_RESPONSE", async () => {
    const sandbox = await IsolateSandbox.create({
      meta,
      code: `export default { fetch() { return "nope"; } };`,
    });
    await expectCode(sandbox.invoke(get("/")), "AGENT_BAD_RESPONSE");
    sandbox.dispose();
  });

  test("an infinite loop is cut at the wall-time limit, and the agent serves again afterwards", async () => {
    const logs: string[] = [];
    const sandbox = await IsolateSandbox.create({
      meta,
      limits: { wallTimeMs: 200 },
      log: (level, message) => logs.push(`${level} ${message}`),
      code: `export default { fetch(r) { if (new URL(r.url).pathname === "/spin") { console.log("about to spin"); for (;;) {} } return new Response("alive"); } };`,
    });
    const started = Date.now();
    await expectCode(sandbox.invoke(get("/spin")), "LIMIT_WALL_TIME_EXCEEDED");
    assert.ok(Date.now() - started < 5_000);
    // The owner's logs keep what it printed before the limit, then why it was stopped.
    const printed = logs.findIndex((l) => l.includes("about to spin"));
    const why = logs.findIndex((l) => /^error LIMIT_WALL_TIME_EXCEEDED: .*the request was stopped/.test(l));
    assert.ok(printed >= 0 && why > printed, logs.join("\n"));
    assert.equal(text((await sandbox.invoke(get("/"))).body), "alive");
    sandbox.dispose();
  });

  test("an async handler that never settles is cut at the wall-time limit", async () => {
    const sandbox = await IsolateSandbox.create({
      meta,
      limits: { wallTimeMs: 200 },
      code: `export default { fetch() { return new Promise(() => {}); } };`,
    });
    await expectCode(sandbox.invoke(get("/")), "LIMIT_WALL_TIME_EXCEEDED");
    sandbox.dispose();
  });

  test("requests that hang end each at its own deadline, while the others around them answer", async () => {
    // One timer watches every running request's limits (isolate.ts `watchLimits`): requests
    // that end in any order must each keep their own deadline.
    const sandbox = await IsolateSandbox.create({
      meta,
      limits: { wallTimeMs: 2_000 },
      code: `export default { fetch(r) { return new URL(r.url).pathname === "/hang" ? new Promise(() => {}) : new Response("ok"); } };`,
    });
    const started = Date.now();
    const deadlines = [900, 300, 600];
    const hung = deadlines.map((ms) =>
      sandbox.invoke({ ...get("/hang"), call: { chain: [], deadline: Date.now() + ms } }).then(
        () => Number.NaN,
        (err: unknown) => {
          assert.ok(err instanceof VeilError && err.code === "CALL_DEADLINE_EXCEEDED", String(err));
          return Date.now() - started;
        },
      ),
    );
    const answered = await Promise.all(Array.from({ length: 20 }, () => sandbox.invoke(get("/"))));
    assert.deepEqual(new Set(answered.map((r) => text(r.body))), new Set(["ok"]));
    const ended = await Promise.all(hung);
    deadlines.forEach((ms, i) => {
      assert.ok(ended[i]! >= ms - 5 && ended[i]! < ms + 400, `deadline ${ms} ms ended at ${ended[i]} ms`);
    });
    // Each waited for its own: the 300 ms one did not hold the 900 ms one's end, nor the reverse.
    assert.ok(ended[1]! < ended[2]! && ended[2]! < ended[0]!);
    sandbox.dispose();
  });

  test("a memory bomb is LIMIT_MEMORY_EXCEEDED, and the agent serves again afterwards", async () => {
    const sandbox = await IsolateSandbox.create({
      meta,
      limits: { memoryMb: 16 },
      code: `export default { fetch(r) {
        if (new URL(r.url).pathname === "/bomb") { const a = []; for (;;) a.push(new Array(100000).fill(Math.random())); }
        return new Response("alive"); } };`,
    });
    await expectCode(sandbox.invoke(get("/bomb")), "LIMIT_MEMORY_EXCEEDED");
    assert.equal(text((await sandbox.invoke(get("/"))).body), "alive");
    sandbox.dispose();
  });

  test("a response over the limit is LIMIT_RESPONSE_TOO_LARGE", async () => {
    const sandbox = await IsolateSandbox.create({
      meta,
      limits: { maxResponseBytes: 1000 },
      code: `export default { fetch() { return new Response("x".repeat(5000)); } };`,
    });
    await expectCode(sandbox.invoke(get("/")), "LIMIT_RESPONSE_TOO_LARGE");
    sandbox.dispose();
  });

  test("bundles that cannot load are AGENT_LOAD_FAILED, saying why", async () => {
    const cases: [string, RegExp][] = [
      ["export default {", /syntax error/],
      ['import fs from "node:fs"; export default { fetch() {} };', /imports "node:fs"/],
      ["export default { notFetch() {} };", /no fetch/],
      ["export const x = 1;", /no fetch/],
      ["throw new Error('at load');", /at load/],
    ];
    for (const [code, why] of cases) {
      const err = await expectCode(IsolateSandbox.create({ meta, code }), "AGENT_LOAD_FAILED");
      assert.match(err.message, why, code);
    }
  });

  test("module state does not leak between two agents", async () => {
    const code = `let count = 0; export default { fetch() { count++; globalThis.shared = (globalThis.shared ?? 0) + 1; return Response.json({ count, shared: globalThis.shared }); } };`;
    const a = await IsolateSandbox.create({ meta, code });
    const b = await IsolateSandbox.create({ meta: { ...meta, id: "8" }, code });
    await a.invoke(get("/"));
    await a.invoke(get("/"));
    assert.deepEqual(JSON.parse(text((await b.invoke(get("/"))).body)), { count: 1, shared: 1 });
    a.dispose();
    b.dispose();
  });

  test("a CPU-bound handler is cut at the CPU limit well before the wall limit", async () => {
    const sandbox = await IsolateSandbox.create({
      meta,
      limits: { cpuTimeMs: 100, wallTimeMs: 10_000 },
      code: `export default { async fetch(r) {
        const p = new URL(r.url).pathname;
        if (p === "/spin") { for (;;) {} }
        if (p === "/microtasks") { for (;;) { await null; } }
        if (p === "/wait") { await new Promise((ok) => setTimeout(ok, 300)); return new Response("waited"); }
        return new Response("alive");
      } };`,
    });
    for (const path of ["/spin", "/microtasks"]) {
      const started = Date.now();
      await expectCode(sandbox.invoke(get(path)), "LIMIT_CPU_EXCEEDED");
      assert.ok(Date.now() - started < 3_000, `${path} was cut after ${Date.now() - started} ms`);
      assert.equal(text((await sandbox.invoke(get("/"))).body), "alive");
    }
    // Waiting is not CPU: a request that sleeps longer than the CPU limit completes.
    assert.equal(text((await sandbox.invoke(get("/wait"))).body), "waited");
    sandbox.dispose();
  });

  test("requests over the agent's concurrency limit are refused at once, retryable", async () => {
    const sandbox = await IsolateSandbox.create({
      meta,
      limits: { maxConcurrent: 2 },
      code: `export default { async fetch() { await new Promise((ok) => setTimeout(ok, 200)); return new Response("done"); } };`,
    });
    const first = [sandbox.invoke(get("/")), sandbox.invoke(get("/"))];
    const third = await expectCode(sandbox.invoke(get("/")), "LIMIT_CONCURRENCY_EXCEEDED");
    assert.equal(third.retryable, true);
    assert.equal(third.status, 429);
    for (const r of await Promise.all(first)) assert.equal(text(r.body), "done");
    assert.equal(text((await sandbox.invoke(get("/"))).body), "done", "capacity comes back");
    sandbox.dispose();
  });

  test("AbortController, AbortSignal.timeout and EventTarget behave as on the web; fetch honours a signal", async () => {
    const sandbox = await IsolateSandbox.create({
      meta,
      code: `export default { async fetch() {
        const c = new AbortController();
        const seen = [];
        c.signal.addEventListener("abort", (e) => seen.push(e.type));
        c.abort();
        c.abort();
        const t = AbortSignal.timeout(20);
        await new Promise((ok) => setTimeout(ok, 60));
        let fetchError;
        try { await fetch("https://example.com/", { signal: AbortSignal.abort() }); } catch (e) { fetchError = e.name; }
        return Response.json({ aborted: c.signal.aborted, reason: c.signal.reason.name, seen,
          timeout: t.aborted, timeoutReason: t.reason.name, fetchError, any: AbortSignal.any([c.signal]).aborted });
      } };`,
    });
    assert.deepEqual(JSON.parse(text((await sandbox.invoke(get("/"))).body)), {
      aborted: true,
      reason: "AbortError",
      seen: ["abort"],
      timeout: true,
      timeoutReason: "TimeoutError",
      fetchError: "AbortError",
      any: true,
    });
    sandbox.dispose();
  });
  test("unloading lets running requests finish and refuses new ones as retryable AGENT_NOT_READY", async () => {
    const sandbox = await IsolateSandbox.create({
      meta,
      code: `export default { async fetch() {
        await new Promise((r) => setTimeout(r, 150));
        return new Response("finished");
      } };`,
    });
    const running = sandbox.invoke(get("/"));
    await new Promise((r) => setTimeout(r, 30));
    sandbox.dispose();
    const refused = await expectCode(sandbox.invoke(get("/")), "AGENT_NOT_READY");
    assert.equal(refused.retryable, true);
    assert.equal(text((await running).body), "finished");
  });

  test("a fresh isolate from the warm pool carries nothing from the warm-up or another agent", async () => {
    // The pool's isolates ran a built-in handler once; agents must not see any of its values.
    const probe = `export default { fetch() {
      return Response.json({ keys: Object.keys(globalThis).filter((k) => k.startsWith("__")), leaked: globalThis.leaked ?? null });
    } };`;
    const first = await IsolateSandbox.create({
      meta,
      code: `globalThis.leaked = "secret"; export default { fetch() { return new Response(globalThis.leaked); } };`,
    });
    assert.equal(text((await first.invoke(get("/"))).body), "secret");
    first.dispose();
    for (let i = 0; i < 3; i++) {
      const sandbox = await IsolateSandbox.create({ meta, code: probe });
      const seen = JSON.parse(text((await sandbox.invoke(get("/"))).body));
      assert.deepEqual(seen, { keys: [], leaked: null });
      sandbox.dispose();
    }
  });
  test("each invocation is metered: CPU, wall time and heap, the heap growing with what the agent keeps", async () => {
    const sandbox = await IsolateSandbox.create({
      meta,
      code: `const kept = [];
      export default { fetch(request) {
        const n = Number(new URL(request.url).searchParams.get("n") ?? "0");
        for (let i = 0; i < n; i++) kept.push(new Array(1000).fill(i));
        let x = 0; for (let i = 0; i < 200000; i++) x += i;
        return new Response(String(x));
      } };`,
    });
    const first = await sandbox.invoke(get("/?n=0"));
    assert.ok(first.usage.heapBytes > 0, "the first invocation's heap is known");
    assert.ok(first.usage.cpuUs > 0 && first.usage.wallUs >= first.usage.cpuUs / 2);
    await sandbox.invoke(get("/?n=4000")); // keeps ~32 MB
    await new Promise((r) => setTimeout(r, 80)); // past the heap sampling period
    await sandbox.invoke(get("/?n=0"));
    await new Promise((r) => setTimeout(r, 20));
    const later = await sandbox.invoke(get("/?n=0"));
    assert.ok(
      later.usage.heapBytes > first.usage.heapBytes + 16 * 1024 * 1024,
      `heap ${later.usage.heapBytes} after keeping ~32 MB, ${first.usage.heapBytes} before`,
    );
    sandbox.dispose();
  });
});
