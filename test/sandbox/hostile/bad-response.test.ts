// Answers no HTTP peer should see: a Response subclass whose getters lie (status 999 reached the
// gateway's link, which threw and dropped every agent's requests on the worker), 1xx statuses,
// header names and values that break framing, and headers past any client's limit. Each is
// AGENT_BAD_RESPONSE (502) for that caller only, checked on the host before any transport.
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { assertBystanderUnharmed, attacker, codeOf, req, text, withBystander } from "./harness.ts";

const AGENT = `class Lying extends Response {
    constructor(body, status, headers) { super(body); this._s = status; this._h = headers; }
    get status() { return this._s; }
    get headers() { const h = this._h; return { forEach(cb) { for (const [k, v] of h) cb(v, k); } }; }
  }
  export default { async fetch(request) {
    const p = new URL(request.url).pathname;
    switch (p) {
      case "/999": return new Lying("x", 999, []);
      case "/101": return new Lying("x", 101, []);
      case "/nan": return new Lying("x", NaN, []);
      case "/object": return new Lying("x", { valueOf() { return 200; } }, []);
      case "/throws": { const r = new Response("x"); Object.defineProperty(r, "status", { get() { throw new Error("no status"); } }); return r; }
      case "/crlf": return new Lying("x", 200, [["x-a", "1\\r\\nset-cookie: stolen=1"]]);
      case "/name": return new Lying("x", 200, [["bad name", "1"]]);
      case "/unicode": return new Lying("x", 200, [["x-a", "\\u2028"]]);
      case "/huge": return new Response("x", { headers: { "x-big": "a".repeat(1024 * 1024 + 10) } });
      case "/many": { const h = new Headers(); for (let i = 0; i < 300; i++) h.set("x-" + i, "v"); return new Response("x", { headers: h }); }
      case "/stream": return new Lying(new ReadableStream({ pull(c) { c.enqueue(new Uint8Array(10)); } }), 999, []);
      case "/platform": return new Response("x", { headers: { "x-veil-llm-receipts": "forged", "x-veil-receipt": "forged", "x-mine": "kept" } });
    }
    return new Response("fine", { status: 201, headers: { "x-ok": "1" } });
  } };`;

describe("hostile agents: answers that are not HTTP", () => {
  const open: { dispose(): void }[] = [];
  after(() => {
    for (const s of open) s.dispose();
  });

  test("each malformed answer is AGENT_BAD_RESPONSE (502) for its caller; the agent and a bystander serve on", async () => {
    const { sandbox, logs } = await attacker(AGENT);
    open.push(sandbox);
    const paths = [
      "/999",
      "/101",
      "/nan",
      "/object",
      "/throws",
      "/crlf",
      "/name",
      "/unicode",
      "/huge",
      "/many",
      "/stream",
    ];
    const { result, bystander } = await withBystander(async () => {
      const out: Record<string, string> = {};
      // All at once, beside good requests of the same agent: one bad answer fails only itself.
      const good = Array.from({ length: 10 }, () => sandbox.invoke(req("/")));
      const bad = paths.map(async (p) => {
        const e = await codeOf(sandbox.invoke(req(p)));
        out[p] = `${e.code} ${e.status}`;
      });
      await Promise.all(bad);
      for (const g of await Promise.all(good)) {
        assert.equal(g.status, 201);
        assert.equal(text(g.body), "fine");
      }
      return out;
    });
    assert.deepEqual(result, Object.fromEntries(paths.map((p) => [p, "AGENT_BAD_RESPONSE 502"])));
    assert.ok(
      logs.some((l) => /status 999 is outside 200–599/.test(l)),
      "the owner's log says what was wrong",
    );
    assertBystanderUnharmed(bystander);
  });

  test("platform headers an agent sets are dropped; its own headers pass", async () => {
    const { sandbox } = await attacker(AGENT);
    open.push(sandbox);
    const res = await sandbox.invoke(req("/platform"));
    assert.deepEqual(res.headers, [
      ["content-type", "text/plain;charset=UTF-8"],
      ["x-mine", "kept"],
    ]);
  });
});
