// Agents as Phala's own tools build them (test/fixtures/phala-templates/, built artifacts
// checked in; see its README): the scripts load unchanged, and Phala-style agents, only they,
// get the wapo guest globals (process.env.secret, Wapo.deriveSecret, Buffer).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { IsolateSandbox } from "../../src/sandbox/isolate.ts";
import { repoRoot } from "../helpers/cli.ts";
import { requestsTo } from "../helpers/sandbox-requests.ts";

const templates = join(repoRoot, "test", "fixtures", "phala-templates");
const built = (name: string) => readFileSync(join(templates, name, "dist", "index.js"), "utf8");
const meta = (id: string) => ({
  id,
  name: `phala-${id}`,
  codeHash: `0x${"00".repeat(32)}`,
  secrets: { apiKey: "sk-test-1234", other: "x" },
});
const keyA = new Uint8Array(32).fill(1);
const keyB = new Uint8Array(32).fill(2);
const req = requestsTo("phala.agents.veil");
const json = (b: Uint8Array) => JSON.parse(new TextDecoder().decode(b));

describe("Phala-built bundles", () => {
  test("phat-fn build's script (router template) loads and answers, with its secret", async () => {
    const s = await IsolateSandbox.create({ code: built("router-func"), meta: meta("1") });
    const r = await s.invoke(req("GET", "/?chatQuery=hi&model=m1"));
    assert.equal(r.status, 200);
    assert.deepEqual(json(r.body), {
      model: "m1",
      chatQuery: "hi",
      path: "/",
      keyTail: "1234",
      message: "echo: hi",
    });
    const p = await s.invoke(req("POST", "/", '{"a":1}', [["x-test", "yes"]]));
    assert.equal(p.status, 201);
    assert.deepEqual(json(p.body), { got: { a: 1 }, header: "yes" });
    assert.equal((await s.invoke(req("PUT", "/"))).status, 404);
    s.dispose();
  });

  test("tsup's wapo script (Hono template, module.exports) loads and answers", async () => {
    const s = await IsolateSandbox.create({ code: built("hono-wapo"), meta: meta("2"), secretKey: keyA });
    const p = await s.invoke(req("POST", "/", '{"b":2}', [["x-test", "ok"]]));
    assert.equal(p.status, 201);
    assert.deepEqual(json(p.body), { got: { b: 2 }, header: "ok" });
    s.dispose();
  });

  test("JSON.parse(process.env.secret) gives a Phala-style agent its secrets", async () => {
    const s = await IsolateSandbox.create({ code: built("hono-wapo"), meta: meta("3"), secretKey: keyA });
    const r = await s.invoke(req("GET", "/?chatQuery=yo"));
    assert.equal(r.status, 200);
    assert.deepEqual(json(r.body), { chatQuery: "yo", keyTail: "1234", names: ["apiKey", "other"] });
    s.dispose();
  });

  test("Wapo.deriveSecret is 64 bytes, the same for the same agent and salt, different per salt and per agent", async () => {
    const derive = async (s: IsolateSandbox, salt: string) =>
      json((await s.invoke(req("GET", `/derive?salt=${salt}`))).body) as { length: number; hex: string };
    const a = await IsolateSandbox.create({ code: built("hono-wapo"), meta: meta("4"), secretKey: keyA });
    const a2 = await IsolateSandbox.create({ code: built("hono-wapo"), meta: meta("4"), secretKey: keyA });
    const b = await IsolateSandbox.create({ code: built("hono-wapo"), meta: meta("5"), secretKey: keyB });
    const first = await derive(a, "salt-1");
    assert.equal(first.length, 64);
    assert.match(first.hex, /^[0-9a-f]{128}$/);
    assert.equal((await derive(a, "salt-1")).hex, first.hex);
    assert.equal(
      (await derive(a2, "salt-1")).hex,
      first.hex,
      "another load of the same agent derives the same",
    );
    assert.notEqual((await derive(a, "salt-2")).hex, first.hex);
    assert.notEqual((await derive(b, "salt-1")).hex, first.hex);
    for (const s of [a, a2, b]) s.dispose();
  });

  test("Wapo.deriveSecret without the agent's key fails with a clear error", async () => {
    const logs: string[] = [];
    const s = await IsolateSandbox.create({
      code: built("hono-wapo"),
      meta: meta("6"),
      log: (_level, message) => logs.push(message),
    });
    const r = await s.invoke(req("GET", "/derive"));
    assert.equal(r.status, 500, "Hono answers a thrown error with 500 (and logs it)");
    assert.match(logs.join("\n"), /Wapo\.deriveSecret: this host holds no key for the agent/);
    s.dispose();
  });

  test("Buffer works as Node's does (the buffer package)", async () => {
    const s = await IsolateSandbox.create({ code: built("hono-wapo"), meta: meta("7"), secretKey: keyA });
    const r = await s.invoke(req("GET", "/buffer"));
    const b = Buffer.from("héllo wörld", "utf8");
    assert.deepEqual(json(r.body), {
      base64: b.toString("base64"),
      hex: "deadbeef",
      back: "héllo wörld",
      concat: "abcd",
      isBuffer: true,
    });
    s.dispose();
  });

  test("a source-level Phala agent (default-exported function) gets the globals too", async () => {
    const code = `export default async function main(input) {
      const vault = JSON.parse(process.env.secret);
      return JSON.stringify({ status: 200, body: JSON.stringify({ key: vault.apiKey, hex: Buffer.from("hi").toString("hex"), wapo: typeof Wapo.deriveSecret }), headers: {} });
    }`;
    const s = await IsolateSandbox.create({ code, meta: meta("8"), secretKey: keyA });
    assert.deepEqual(json((await s.invoke(req("GET", "/"))).body), {
      key: "sk-test-1234",
      hex: "6869",
      wapo: "function",
    });
    s.dispose();
  });

  test("an ordinary fetch-style agent sees no process, Wapo, Buffer, scriptArgs or module", async () => {
    const code = `export default { fetch() {
      return Response.json([typeof process, typeof Wapo, typeof Buffer, typeof scriptArgs, typeof module, typeof Function.prototype.apply]);
    } };`;
    const s = await IsolateSandbox.create({ code, meta: meta("9"), secretKey: keyA });
    assert.deepEqual(json((await s.invoke(req("GET", "/"))).body), [
      "undefined",
      "undefined",
      "undefined",
      "undefined",
      "undefined",
      "function",
    ]);
    s.dispose();
  });

  test("a Phala-built script keeps Function.prototype.apply working after load", async () => {
    const code = `(()=>{ const f = function (a, b) { return this.k + a + b; };
      (async function (input) {
        const r = JSON.parse(input);
        return JSON.stringify({ status: 200, body: String(f.apply({ k: 1 }, [2, 3])) + r.path, headers: {} });
      }).apply(null, globalThis.scriptArgs).then(t => globalThis.scriptOutput = t);
    })();`;
    const s = await IsolateSandbox.create({ code, meta: meta("10") });
    const r = await s.invoke(req("GET", "/p"));
    assert.equal(new TextDecoder().decode(r.body), "6/p");
    s.dispose();
  });
});
