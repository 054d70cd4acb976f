import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, test } from "node:test";
import { IsolateSandbox } from "../../src/sandbox/isolate.ts";
import { buildAgent } from "../../src/sdk/build.ts";
import { repoRoot } from "../helpers/cli.ts";
import { requestsTo } from "../helpers/sandbox-requests.ts";

const fixtures = join(repoRoot, "test", "fixtures");
const meta = { id: "9", name: "compat", codeHash: `0x${"00".repeat(32)}`, secrets: { API_KEY: "k-1" } };
const req = requestsTo("compat.agents.veil");
const load = async (name: string) =>
  IsolateSandbox.create({ code: (await buildAgent(join(fixtures, name))).code, meta });
const text = (b: Uint8Array) => new TextDecoder().decode(b);
const header = (h: [string, string][], k: string) => h.find(([n]) => n === k)?.[1];

describe("compatibility", () => {
  test("a Hono app exported as its fetch runs unchanged", async () => {
    const s = await load("hono-fetch");
    const hi = await s.invoke(req("GET", "/hi/ada"));
    assert.equal(hi.status, 200);
    assert.equal(text(hi.body), "hi ada");
    const sum = await s.invoke(req("POST", "/json", "[1,2,3]"));
    assert.deepEqual(JSON.parse(text(sum.body)), { sum: 6 });
    assert.equal((await s.invoke(req("GET", "/missing"))).status, 404);
    s.dispose();
  });

  test("Phala's Hono template (wapo-env handle: scriptArgs in, MessagePack scriptOutput out) runs unchanged", async () => {
    const s = await load("phala-hono");
    const root = await s.invoke(req("GET", "/?name=ada"));
    assert.equal(root.status, 200);
    assert.deepEqual(JSON.parse(text(root.body)), { hello: "ada", method: "GET" });
    assert.match(header(root.headers, "content-type") ?? "", /application\/json/);
    const echo = await s.invoke(req("POST", "/echo", '{"a":1}', [["x-test", "yes"]]));
    assert.equal(echo.status, 201);
    assert.deepEqual(JSON.parse(text(echo.body)), { got: { a: 1 }, header: "yes" });
    const boom = await s.invoke(req("GET", "/boom"));
    assert.equal(boom.status, 500, "Hono's error handler answers 500");
    s.dispose();
  });

  test("Phala's router style (main(requestJson) → JSON text) runs unchanged, with its secrets", async () => {
    const s = await load("phala-router");
    const r = await s.invoke(req("POST", "/run?a=1&a=2&b=x", '{"q":1}'));
    assert.equal(r.status, 200);
    assert.equal(header(r.headers, "x-style"), "router");
    assert.deepEqual(JSON.parse(text(r.body)), {
      method: "POST",
      path: "/run",
      queries: { a: ["1", "2"], b: ["x"] },
      body: '{"q":1}',
    });
    const secret = await s.invoke(req("GET", "/secret"));
    assert.deepEqual(JSON.parse(text(secret.body)), { has: ["API_KEY"] });
    s.dispose();
  });

  test("a Phala-style main that returns nothing, or junk, is a typed agent error", async () => {
    for (const code of [
      "export default function main() {}",
      "export default function main() { return 'not json'; }",
      "export default function main() { return 42; }",
    ]) {
      const s = await IsolateSandbox.create({ code, meta });
      await assert.rejects(
        s.invoke(req("GET", "/")),
        (e: unknown) => (e as { code?: string }).code === "AGENT_THREW",
      );
      s.dispose();
    }
  });
});
