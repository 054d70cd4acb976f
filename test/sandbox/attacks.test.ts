// The sandbox from an attacker's side: agent code (or a caller) trying to read what another
// caller left behind, to outlast its limits inside host calls, to re-enter the host, or to feed
// it bytes it does not expect. Each attack gets a typed error or a harmless answer, and the
// agent (and every other agent) keeps serving.
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { VeilError } from "../../src/errors/index.ts";
import { IsolateSandbox } from "../../src/sandbox/isolate.ts";
import type { SandboxLimits, SandboxRequest } from "../../src/sandbox/types.ts";

const meta = { id: "9", name: "attacks", codeHash: `0x${"00".repeat(32)}` };
const text = (b: Uint8Array) => new TextDecoder().decode(b);
const req = (path: string, extra: Partial<SandboxRequest> = {}): SandboxRequest => ({
  method: "GET",
  url: `https://attacks.agents.veil${path}`,
  headers: [],
  body: null,
  ...extra,
});
const post = (path: string, body: Uint8Array, extra: Partial<SandboxRequest> = {}) =>
  req(path, { method: "POST", body, ...extra });

async function json(sandbox: IsolateSandbox, request: SandboxRequest): Promise<unknown> {
  const res = await sandbox.invoke(request);
  return JSON.parse(text(res.body));
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof VeilError, `expected a VeilError, got ${err}`);
    return err.code;
  }
  assert.fail("expected a typed error");
}

function sandbox(code: string, limits: Partial<SandboxLimits> = {}): Promise<IsolateSandbox> {
  return IsolateSandbox.create({ meta, code, limits });
}

describe("module-level state is per caller", () => {
  const remember = `let seen = [];
    export default { async fetch(request) {
      const who = new URL(request.url).searchParams.get("as");
      seen.push(who);
      return Response.json(seen);
    } };`;

  test("one caller's module state is invisible to another, and kept for the same caller", async () => {
    const sb = await sandbox(remember);
    assert.deepEqual(await json(sb, req("/?as=alice", { caller: "0xa11ce" })), ["alice"]);
    assert.deepEqual(await json(sb, req("/?as=bob", { caller: "0xb0b" })), ["bob"]);
    assert.deepEqual(await json(sb, req("/?as=alice2", { caller: "0xa11ce" })), ["alice", "alice2"]);
    // Anonymous callers are one caller, "the public", and never see a named caller's realm.
    assert.deepEqual(await json(sb, req("/?as=anon")), ["anon"]);
    sb.dispose();
  });

  test("one-time callers (encrypted requests) each get a fresh realm, never reused", async () => {
    const sb = await sandbox(remember);
    for (const who of ["e1", "e2", "e3"]) {
      assert.deepEqual(await json(sb, req(`/?as=${who}`, { caller: null })), [who]);
    }
    assert.deepEqual(await json(sb, req("/?as=anon")), ["anon"]);
    sb.dispose();
  });

  test("prototype pollution by one caller does not reach the next caller", async () => {
    const sb = await sandbox(`export default { async fetch(request) {
      const url = new URL(request.url);
      if (url.pathname === "/pollute") {
        Object.prototype.isAdmin = true;
        Array.prototype.includes = () => true;
        JSON.parse = () => ({ isAdmin: true });
        let frozen = "yes";
        try { Response.prototype.json = () => "owned"; } catch { frozen = "threw"; }
        return Response.json({ frozen, sameRealm: ({}).isAdmin === true });
      }
      const body = JSON.parse('{"user":"x"}');
      return Response.json({ isAdmin: ({}).isAdmin === true, includes: [].includes(1), body });
    } };`);
    const polluted = (await json(sb, req("/pollute", { caller: "0xattacker" }))) as Record<string, unknown>;
    assert.equal(polluted.sameRealm, true, "the attacker's own realm is polluted (its own problem)");
    const victim = await json(sb, req("/check", { caller: "0xvictim" }));
    assert.deepEqual(victim, { isAdmin: false, includes: false, body: { user: "x" } });
    assert.deepEqual(await json(sb, req("/check")), { isAdmin: false, includes: false, body: { user: "x" } });
    sb.dispose();
  });

  test("the number of realms is bounded: the least recently used caller's is dropped", async () => {
    const sb = await sandbox(remember);
    for (let i = 0; i < 40; i++) await sb.invoke(req(`/?as=c${i}`, { caller: `0x${i}` }));
    assert.ok(sb.realmCount <= 16, `realms: ${sb.realmCount}`);
    // A dropped caller starts over; nothing of another caller appears.
    assert.deepEqual(await json(sb, req("/?as=again", { caller: "0x0" })), ["again"]);
    sb.dispose();
  });
});

describe("limits hold inside host calls and re-entrant code", () => {
  let server: Server;
  let base: string;
  let hits = 0;
  before(async () => {
    server = createServer((r, res) => {
      hits++;
      if (r.url === "/slow") setTimeout(() => res.end("late"), 3_000);
      else res.end("ok");
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => {
    server.closeAllConnections();
    server.close();
  });
  const egress = (over: Partial<SandboxLimits["egress"]> = {}) => ({
    allowHosts: ["127.0.0.1"],
    maxRequestBytes: 1024 * 1024,
    maxResponseBytes: 1024 * 1024,
    timeoutMs: 10_000,
    maxConcurrent: 16,
    maxFetchesPerRequest: 5,
    ...over,
  });

  test("waiting on a host call past the wall time is LIMIT_WALL_TIME_EXCEEDED, and the agent serves again", async () => {
    const sb = await sandbox(
      `export default { async fetch(request) {
        if (new URL(request.url).pathname === "/hang") await fetch("${base}/slow");
        return new Response("fine");
      } };`,
      { wallTimeMs: 300, egress: egress() },
    );
    const started = Date.now();
    assert.equal(await codeOf(sb.invoke(req("/hang"))), "LIMIT_WALL_TIME_EXCEEDED");
    assert.ok(Date.now() - started < 2_500, "cut at the wall time, not when the host call ends");
    assert.equal(text((await sb.invoke(req("/"))).body), "fine");
    sb.dispose();
  });

  test("outbound fetches per invocation are capped; the next invocation has its own allowance", async () => {
    const sb = await sandbox(
      `export default { async fetch() {
        const out = [];
        for (let i = 0; i < 8; i++) {
          try { await fetch("${base}/n"); out.push("ok"); } catch (e) { out.push(e.code); }
        }
        return Response.json(out);
      } };`,
      { egress: egress() },
    );
    hits = 0;
    const first = (await json(sb, req("/"))) as string[];
    assert.deepEqual(first, [...Array(5).fill("ok"), ...Array(3).fill("EGRESS_TOO_MANY_FETCHES")]);
    assert.equal(hits, 5, "refused fetches never leave the host");
    assert.deepEqual(await json(sb, req("/")), first);
    sb.dispose();
  });

  test("code the host calls back (timers, toJSON, getters) may re-enter the host, within the same limits", async () => {
    const sb = await sandbox(
      `export default { async fetch(request, env, ctx) {
        const out = {};
        // A timer callback, run when the host's sleep resolves, calls the host again.
        out.timer = await new Promise((done) => setTimeout(async () => {
          const r = await fetch("${base}/a"); done(await r.text());
        }, 1));
        // Fetches started by re-entrant code count against the same allowance.
        const nested = [];
        const req = { get url() { return "${base}/b"; } };
        for (let i = 0; i < 6; i++) {
          try { await fetch(req.url); nested.push("ok"); } catch (e) { nested.push(e.code); }
        }
        out.nested = nested;
        // A value whose toJSON calls into the host while the host is encoding it.
        let inner = "unset";
        const tricky = { toJSON() { crypto.getRandomValues(new Uint8Array(8)); inner = "ran"; return { v: 1 }; } };
        try { await ctx.state?.put("k", tricky); } catch (e) { inner = e.name; }
        out.inner = inner;
        return Response.json(out);
      } };`,
      { egress: egress() },
    );
    const out = (await json(sb, req("/"))) as { timer: string; nested: string[] };
    assert.equal(out.timer, "ok");
    assert.deepEqual(out.nested, [
      "ok",
      "ok",
      "ok",
      "ok",
      "EGRESS_TOO_MANY_FETCHES",
      "EGRESS_TOO_MANY_FETCHES",
    ]);
    sb.dispose();
  });

  test("a fork of promises (an endless microtask chain) is cut, and the agent serves again", async () => {
    const sb = await sandbox(
      `export default { async fetch(request) {
        if (new URL(request.url).pathname === "/fork") {
          const spawn = () => { Promise.resolve().then(spawn); Promise.resolve().then(spawn); };
          spawn();
          await new Promise(() => {});
        }
        return new Response("fine");
      } };`,
      { cpuTimeMs: 200, wallTimeMs: 2_000, memoryMb: 64 },
    );
    assert.match(await codeOf(sb.invoke(req("/fork"))), /^LIMIT_(CPU|MEMORY|WALL_TIME)_EXCEEDED$/);
    assert.equal(text((await sb.invoke(req("/"))).body), "fine");
    sb.dispose();
  });
});

describe("malformed input from callers", () => {
  const echo = `export default { async fetch(request) {
    const url = new URL(request.url);
    if (url.pathname === "/json") {
      try { return Response.json({ parsed: await request.json() }); }
      catch (e) { return Response.json({ error: e.name }, { status: 400 }); }
    }
    if (url.pathname === "/strict") {
      try { new TextDecoder("utf-8", { fatal: true }).decode(await request.arrayBuffer()); return new Response("valid"); }
      catch (e) { return Response.json({ error: e.name }, { status: 400 }); }
    }
    if (url.pathname === "/unhandled") return Response.json(await request.json());
    const t = await request.text();
    return Response.json({ text: t, length: t.length, header: request.headers.get("x-name") });
  } };`;

  test("malformed JSON is a SyntaxError the agent can handle, or a typed AGENT_THREW if it does not", async () => {
    const sb = await sandbox(echo);
    const bad = new TextEncoder().encode('{"a": 1,');
    const res = await sb.invoke(post("/json", bad));
    assert.equal(res.status, 400);
    assert.deepEqual(JSON.parse(text(res.body)), { error: "SyntaxError" });
    assert.equal(await codeOf(sb.invoke(post("/unhandled", bad))), "AGENT_THREW");
    assert.deepEqual(await json(sb, post("/json", new TextEncoder().encode('{"a":1}'))), {
      parsed: { a: 1 },
    });
    sb.dispose();
  });

  test("invalid UTF-8 decodes to replacement characters, or a TypeError when the agent asks for strict", async () => {
    const sb = await sandbox(echo);
    const invalid = new Uint8Array([0x68, 0x69, 0xff, 0xfe, 0xc3, 0x28, 0xed, 0xa0, 0x80]);
    const out = (await json(sb, post("/text", invalid))) as { text: string };
    assert.ok(out.text.startsWith("hi"));
    assert.ok(out.text.includes("\uFFFD"));
    const strict = await sb.invoke(post("/strict", invalid));
    assert.equal(strict.status, 400);
    assert.deepEqual(JSON.parse(text(strict.body)), { error: "TypeError" });
    sb.dispose();
  });

  test("many long headers and Latin-1 values reach the agent as data", async () => {
    const sb = await sandbox(echo);
    const headers: [string, string][] = [["x-name", "caf\u00e9 \u00ff"]];
    for (let i = 0; i < 200; i++) headers.push([`x-h${i}`, "v".repeat(100)]);
    const out = (await json(sb, post("/text", new Uint8Array(0), { headers }))) as { header: string };
    assert.equal(out.header, "caf\u00e9 \u00ff");
    sb.dispose();
  });

  test("a header the web's Headers refuses (a NUL, a bad name) is REQUEST_INVALID, and the agent serves again", async () => {
    const sb = await sandbox(echo);
    for (const header of [
      ["x-name", "a\u0000b"],
      ["bad name", "v"],
      ["x-name", "\u0100"],
    ] as [string, string][]) {
      assert.equal(
        await codeOf(sb.invoke(post("/text", new Uint8Array(0), { headers: [header] }))),
        "REQUEST_INVALID",
      );
    }
    assert.deepEqual(await json(sb, post("/json", new TextEncoder().encode("1"))), { parsed: 1 });
    sb.dispose();
  });
});

describe("a noisy neighbour does not break another agent under load", () => {
  test("while one agent loops, bombs memory, forks promises and returns huge bodies, another serves every request", async () => {
    const victim = await IsolateSandbox.create({
      meta: { ...meta, id: "1", name: "victim" },
      code: `let n = 0; export default { fetch() { n++; return new Response("ok " + n); } };`,
    });
    const noisy = await IsolateSandbox.create({
      meta: { ...meta, id: "2", name: "noisy" },
      code: `export default { async fetch(request) {
        switch (new URL(request.url).pathname) {
          case "/loop": for (;;) {}
          case "/memory": { const a = []; for (;;) a.push(new Array(1e6).fill(1)); }
          case "/fork": { const s = () => { Promise.resolve().then(s); Promise.resolve().then(s); }; s(); await new Promise(() => {}); }
          case "/huge": return new Response("x".repeat(4 * 1024 * 1024));
        }
        return new Response("quiet");
      } };`,
      limits: { cpuTimeMs: 300, wallTimeMs: 1_500, memoryMb: 64, maxResponseBytes: 1024 * 1024 },
    });
    let stop = false;
    const served: string[] = [];
    const failures: unknown[] = [];
    const load = async () => {
      while (!stop) {
        try {
          const res = await victim.invoke(req("/"));
          served.push(text(res.body));
        } catch (err) {
          failures.push(err);
        }
      }
    };
    const loaders = Array.from({ length: 8 }, load);
    // One attack at a time; while each runs, the victim must keep answering.
    const attacks: string[] = [];
    for (const path of ["/loop", "/memory", "/fork", "/huge"]) {
      const before = served.length;
      // An agent stopped by its limits again and again is held back a while (throttle.ts).
      let code = await codeOf(noisy.invoke(req(path)));
      while (code === "AGENT_THROTTLED") {
        await new Promise((r) => setTimeout(r, 50));
        code = await codeOf(noisy.invoke(req(path)));
      }
      attacks.push(code);
      assert.ok(served.length > before, `the victim answered nothing while the noisy agent ran ${path}`);
    }
    stop = true;
    await Promise.all(loaders);
    assert.deepEqual(failures, [], "the victim failed no request");
    assert.deepEqual(
      attacks.map((c) => /^LIMIT_(CPU|MEMORY|WALL_TIME|RESPONSE_TOO_LARGE)/.test(c)),
      [true, true, true, true],
      attacks.join(", "),
    );
    await new Promise((r) => setTimeout(r, 1_000));
    assert.equal(text((await noisy.invoke(req("/"))).body), "quiet");
    victim.dispose();
    noisy.dispose();
  });
});
