import assert from "node:assert/strict";
import { createHash, createHmac } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { DEFAULT_EGRESS, type EgressPolicy } from "../../src/sandbox/egress.ts";
import { IsolateSandbox } from "../../src/sandbox/isolate.ts";

const meta = { id: "1", name: "g", codeHash: `0x${"00".repeat(32)}` };

/** Runs `body` (the inside of an async function) in a fresh agent and returns its JSON result. */
async function run(body: string, egress: Partial<EgressPolicy> = {}): Promise<unknown> {
  const sandbox = await IsolateSandbox.create({
    meta,
    limits: { wallTimeMs: 5_000, egress: { ...DEFAULT_EGRESS, ...egress } },
    code: `export default { async fetch() { const result = await (async () => { ${body} })(); return Response.json(result ?? null); } };`,
  });
  try {
    const res = await sandbox.invoke({
      method: "GET",
      url: "https://g.agents.veil/",
      headers: [],
      body: null,
    });
    const text = new TextDecoder().decode(res.body);
    assert.equal(res.status, 200, text);
    return JSON.parse(text);
  } finally {
    sandbox.dispose();
  }
}

describe("web globals inside the sandbox", () => {
  test("URL and URLSearchParams parse, resolve and serialize", async () => {
    assert.deepEqual(
      await run(`
        const u = new URL("https://User:pw@Example.COM:443/a/./b/../c?x=1&y=a+b#frag");
        const r = new URL("../d?q=2", "http://h.test/a/b/c");
        u.searchParams.append("z", "é &");
        let invalid = false; try { new URL("not a url"); } catch (e) { invalid = e instanceof TypeError; }
        return { href: u.href, host: u.host, path: u.pathname, y: u.searchParams.get("y"), r: r.href, invalid,
          qs: new URLSearchParams({ a: "1", b: "x y" }).toString() };`),
      {
        href: "https://User:pw@example.com/a/c?x=1&y=a+b&z=%C3%A9+%26#frag",
        host: "example.com",
        path: "/a/c",
        y: "a b",
        r: "http://h.test/a/d?q=2",
        invalid: true,
        qs: "a=1&b=x+y",
      },
    );
  });

  test("TextEncoder/TextDecoder round-trip UTF-8 and refuse invalid input when fatal", async () => {
    assert.deepEqual(
      await run(`
        const s = "héllo 🌍";
        const bytes = new TextEncoder().encode(s);
        let fatal = null; try { new TextDecoder("utf-8", { fatal: true }).decode(new Uint8Array([0xff, 0xfe])); } catch (e) { fatal = e.name; }
        return { len: bytes.length, back: new TextDecoder().decode(bytes), lenient: new TextDecoder().decode(new Uint8Array([0x61, 0xff])), fatal,
          b64: btoa("hi!"), unb64: atob("aGkh") };`),
      { len: 11, back: "héllo 🌍", lenient: "a\ufffd", fatal: "TypeError", b64: "aGkh", unb64: "hi!" },
    );
  });

  test("Headers, Request and Response behave as on the web, bad input included", async () => {
    assert.deepEqual(
      await run(`
        const h = new Headers({ "X-A": "1" }); h.append("x-a", "2");
        let badName = null; try { h.set("bad name", "x"); } catch (e) { badName = e.name; }
        const r = new Request("https://x.test/p", { method: "post", body: "{\\"k\\":1}" });
        const json = await r.json();
        let twice = null; try { await r.text(); } catch (e) { twice = e.name; }
        let getBody = null; try { new Request("https://x.test", { method: "GET", body: "x" }); } catch (e) { getBody = e.name; }
        let badStatus = null; try { new Response("x", { status: 99 }); } catch (e) { badStatus = e.name; }
        const res = Response.json({ ok: true }, { status: 201 });
        return { a: h.get("x-a"), badName, method: r.method, json, twice, getBody, badStatus,
          ct: res.headers.get("content-type"), st: res.status, clone: await res.clone().json() };`),
      {
        a: "1, 2",
        badName: "TypeError",
        method: "POST",
        json: { k: 1 },
        twice: "TypeError",
        getBody: "TypeError",
        badStatus: "RangeError",
        ct: "application/json",
        st: 201,
        clone: { ok: true },
      },
    );
  });

  test("crypto: random values, UUIDs, SHA digests and HMAC match node:crypto", async () => {
    const key = "k3y";
    const result = (await run(`
      const hex = (b) => [...new Uint8Array(b)].map((x) => x.toString(16).padStart(2, "0")).join("");
      const a = crypto.getRandomValues(new Uint8Array(32)), b = crypto.getRandomValues(new Uint8Array(32));
      let quota = null; try { crypto.getRandomValues(new Uint8Array(65537)); } catch (e) { quota = e.name; }
      const enc = new TextEncoder();
      const k = await crypto.subtle.importKey("raw", enc.encode("${key}"), { name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"]);
      const sig = await crypto.subtle.sign("HMAC", k, enc.encode("msg"));
      return { differ: hex(a) !== hex(b), quota, uuid: crypto.randomUUID(),
        sha256: hex(await crypto.subtle.digest("SHA-256", enc.encode("abc"))),
        sha512: hex(await crypto.subtle.digest({ name: "SHA-512" }, enc.encode("abc"))),
        hmac: hex(sig), ok: await crypto.subtle.verify("HMAC", k, sig, enc.encode("msg")),
        forged: await crypto.subtle.verify("HMAC", k, new Uint8Array(32), enc.encode("msg")) };`)) as Record<
      string,
      unknown
    >;
    assert.equal(result.differ, true);
    assert.equal(result.quota, "QuotaExceededError");
    assert.match(
      String(result.uuid),
      /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
    assert.equal(result.sha256, createHash("sha256").update("abc").digest("hex"));
    assert.equal(result.sha512, createHash("sha512").update("abc").digest("hex"));
    assert.equal(result.hmac, createHmac("sha256", key).update("msg").digest("hex"));
    assert.equal(result.ok, true);
    assert.equal(result.forged, false);
  });

  test("timers fire in order, and a cleared timer never fires", async () => {
    assert.deepEqual(
      await run(`
        const order = [];
        await new Promise((done) => {
          setTimeout(() => order.push("b"), 150);
          setTimeout(() => order.push("a"), 5);
          const c = setTimeout(() => order.push("never"), 10); clearTimeout(c);
          let n = 0; const i = setInterval(() => { order.push("i" + n++); if (n === 2) clearInterval(i); }, 8);
          setTimeout(done, 250);
        });
        return order;`),
      ["a", "i0", "i1", "b"],
    );
  });

  test("structuredClone copies data and refuses functions", async () => {
    assert.deepEqual(
      await run(`
        const o = { d: new Date(0), m: new Map([[1, { x: 1 }]]), a: [1, 2] }; o.self = o;
        const c = structuredClone(o);
        let fn = null; try { structuredClone({ f() {} }); } catch (e) { fn = e.name; }
        return { same: c === o, cyc: c.self === c, d: c.d.getTime(), m: c.m.get(1).x, fn };`),
      { same: false, cyc: true, d: 0, m: 1, fn: "DataCloneError" },
    );
  });
});

describe("fetch through the egress policy", () => {
  let server: Server;
  let base: string;
  before(async () => {
    server = createServer((req, res) => {
      if (req.url === "/big") {
        res.end("x".repeat(4096));
      } else if (req.url === "/slow") {
        setTimeout(() => res.end("late"), 2_000);
      } else {
        let body = "";
        req.on("data", (c) => {
          body += c;
        });
        req.on("end", () => {
          res.setHeader("x-echo", "yes");
          res.setHeader("content-type", "application/json");
          res.end(
            JSON.stringify({
              method: req.method,
              url: req.url,
              body,
              agentHeader: req.headers["x-agent"] ?? null,
            }),
          );
        });
      }
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => {
    server.closeAllConnections();
    server.close();
  });

  const attempt = (url: string) =>
    `try { const r = await fetch(${JSON.stringify(url)}); return { status: r.status, text: await r.text() }; } catch (e) { return { error: e.name, code: e.code }; }`;

  test("loopback is refused by default, even with a wildcard allowlist", async () => {
    assert.deepEqual(await run(attempt(`${base}/x`)), { error: "TypeError", code: "EGRESS_PRIVATE_ADDRESS" });
    assert.deepEqual(await run(attempt("http://localhost:1/x"), { allowHosts: ["*"] }), {
      error: "TypeError",
      code: "EGRESS_PRIVATE_ADDRESS",
    });
  });

  test("a host outside the allowlist is refused, and so are other schemes", async () => {
    assert.deepEqual(await run(attempt("https://example.com/"), { allowHosts: ["api.other.test"] }), {
      error: "TypeError",
      code: "EGRESS_HOST_NOT_ALLOWED",
    });
    assert.deepEqual(await run(attempt("file:///etc/passwd")), {
      error: "TypeError",
      code: "EGRESS_BAD_URL",
    });
  });

  test("an explicitly allowed host is reached: method, body, headers and status round-trip", async () => {
    const out = await run(
      `const r = await fetch("${base}/echo?q=1", { method: "POST", body: "hello", headers: { "x-agent": "a1" } });
       return { status: r.status, echo: r.headers.get("x-echo"), json: await r.json() };`,
      { allowHosts: ["127.0.0.1"] },
    );
    assert.deepEqual(out, {
      status: 200,
      echo: "yes",
      json: { method: "POST", url: "/echo?q=1", body: "hello", agentHeader: "a1" },
    });
  });

  test("responses over the limit and answers that come too late are typed errors", async () => {
    assert.deepEqual(
      await run(attempt(`${base}/big`), { allowHosts: ["127.0.0.1"], maxResponseBytes: 1024 }),
      {
        error: "TypeError",
        code: "EGRESS_RESPONSE_TOO_LARGE",
      },
    );
    assert.deepEqual(await run(attempt(`${base}/slow`), { allowHosts: ["127.0.0.1"], timeoutMs: 200 }), {
      error: "TypeError",
      code: "EGRESS_TIMEOUT",
    });
  });
});
