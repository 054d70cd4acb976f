// Issue 19: Blob, File and FormData in agents, held to Node's own (undici's) implementations:
// what an agent encodes, Node parses to the same entries, and what Node encodes, the agent
// parses to the same entries; Blob.slice agrees index for index. Before, FormData was not
// defined (the official openai client failed on every call) and formData() threw.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { IsolateSandbox } from "../../src/sandbox/isolate.ts";
import type { SandboxRequest } from "../../src/sandbox/types.ts";
import { buildAgent } from "../../src/sdk/build.ts";
import { repoRoot } from "../helpers/cli.ts";

const meta = { id: "20", name: "forms", codeHash: `0x${"20".repeat(32)}` };
const text = (b: Uint8Array) => new TextDecoder().decode(b);

/** A deterministic generator, so a failure names the seed that made it. */
function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

type Plain = { name: string; value: string } | { name: string; file: string; type: string; bytes: number[] };

const PIECES = [
  "a",
  "field",
  "naïve",
  "名前",
  'quo"te',
  "new\nline",
  "cr\rlf\r\n",
  "sp ace",
  "%20",
  "🌍",
  "=&",
];
function randomEntries(seed: number): Plain[] {
  const r = rng(seed);
  const pick = () => PIECES[Math.floor(r() * PIECES.length)]!;
  const word = () => Array.from({ length: 1 + Math.floor(r() * 3) }, pick).join("");
  return Array.from({ length: 1 + Math.floor(r() * 6) }, () =>
    r() < 0.5
      ? { name: word(), value: word() }
      : {
          name: word(),
          file: `${word().replace(/[\r\n]/g, "")}.bin`,
          type: r() < 0.3 ? "" : r() < 0.5 ? "image/png" : "text/plain",
          bytes: Array.from({ length: Math.floor(r() * 300) }, () => Math.floor(r() * 256)),
        },
  );
}

/** Entries of a FormData as plain data (files by name, type and bytes). */
async function plainOf(form: FormData): Promise<Plain[]> {
  const out: Plain[] = [];
  for (const [name, v] of form) {
    if (typeof v === "string") out.push({ name, value: v });
    else out.push({ name, file: v.name, type: v.type, bytes: [...new Uint8Array(await v.arrayBuffer())] });
  }
  return out;
}

const AGENT = `
const plainOf = async (form) => { const out = []; for (const [name, v] of form) { if (typeof v === "string") out.push({ name, value: v }); else out.push({ name, file: v.name, type: v.type, bytes: [...new Uint8Array(await v.arrayBuffer())] }); } return out; };
export default { async fetch(request) {
  const path = new URL(request.url).pathname;
  if (path === "/encode") {
    const entries = await request.json();
    const form = new FormData();
    for (const e of entries) { if ("value" in e) form.append(e.name, e.value); else form.append(e.name, new Blob([new Uint8Array(e.bytes)], { type: e.type }), e.file); }
    return new Response(form);
  }
  if (path === "/parse") return Response.json(await plainOf(await request.formData()));
  if (path === "/slice") {
    const { bytes, cases } = await request.json();
    const blob = new Blob([new Uint8Array(bytes)]);
    const out = [];
    for (const [s, e] of cases) out.push([...new Uint8Array(await blob.slice(s ?? undefined, e ?? undefined).arrayBuffer())]);
    return Response.json(out);
  }
  return new Response("?", { status: 404 });
} };`;

describe("Blob, File and FormData, held to Node's", () => {
  let sandbox: IsolateSandbox;
  const open: IsolateSandbox[] = [];
  after(() => {
    sandbox?.dispose();
    for (const s of open) s.dispose();
  });
  const call = async (path: string, body: Uint8Array | string, contentType: string) => {
    sandbox ??= await IsolateSandbox.create({ meta, code: AGENT });
    const req: SandboxRequest = {
      method: "POST",
      url: `https://forms.agents.veil${path}`,
      headers: [["content-type", contentType]],
      body: typeof body === "string" ? new TextEncoder().encode(body) : body,
    };
    return sandbox.invoke(req);
  };

  test("what an agent encodes as multipart, Node parses to the same entries (40 random forms)", async () => {
    for (let seed = 1; seed <= 40; seed++) {
      const entries = randomEntries(seed);
      const r = await call("/encode", JSON.stringify(entries), "application/json");
      const type = r.headers.find(([k]) => k === "content-type")?.[1] ?? "";
      assert.match(type, /^multipart\/form-data; boundary=/);
      const parsed = await plainOf(
        await new Response(r.body, { headers: { "content-type": type } }).formData(),
      );
      // Node reads the agent's bytes as its own encoder would have written them.
      const viaNode = new FormData();
      for (const e of entries) {
        if ("value" in e) viaNode.append(e.name, e.value);
        else viaNode.append(e.name, new Blob([new Uint8Array(e.bytes)], { type: e.type }), e.file);
      }
      const nodeRound = new Response(viaNode);
      const expected = await plainOf(await nodeRound.formData());
      assert.deepEqual(parsed, expected, `seed ${seed}`);
    }
  });

  test("what Node encodes (multipart and urlencoded), the agent parses to the same entries", async () => {
    for (let seed = 100; seed < 140; seed++) {
      const entries = randomEntries(seed);
      const form = new FormData();
      for (const e of entries) {
        if ("value" in e) form.append(e.name, e.value);
        else form.append(e.name, new Blob([new Uint8Array(e.bytes)], { type: e.type }), e.file);
      }
      const encoded = new Response(form);
      const type = encoded.headers.get("content-type")!;
      const bytes = new Uint8Array(await encoded.arrayBuffer());
      const r = await call("/parse", bytes, type);
      assert.equal(r.status, 200, text(r.body));
      // The same bytes as Node's parser reads them (it leaves %22, %0D, %0A in names as sent).
      const viaNode = await new Response(bytes, { headers: { "content-type": type } }).formData();
      assert.deepEqual(JSON.parse(text(r.body)), await plainOf(viaNode), `seed ${seed}`);

      const params = new URLSearchParams(
        entries.map((e) => [e.name, "value" in e ? e.value : e.file] as [string, string]),
      );
      const u = await call("/parse", params.toString(), "application/x-www-form-urlencoded;charset=UTF-8");
      const expected = await plainOf(
        await new Response(params.toString(), {
          headers: { "content-type": "application/x-www-form-urlencoded" },
        }).formData(),
      );
      assert.deepEqual(JSON.parse(text(u.body)), expected, `seed ${seed} (urlencoded)`);
    }
  });

  test("Blob.slice agrees with Node's for every start and end, negative ones too", async () => {
    const bytes = Array.from({ length: 10 }, (_, i) => i);
    const points = [null, -12, -10, -3, -1, 0, 1, 4, 9, 10, 15];
    const cases = points.flatMap((s) => points.map((e) => [s, e]));
    const r = await call("/slice", JSON.stringify({ bytes, cases }), "application/json");
    const blob = new Blob([new Uint8Array(bytes)]);
    const expected = await Promise.all(
      cases.map(async ([s, e]) => [
        ...new Uint8Array(await blob.slice(s ?? undefined, e ?? undefined).arrayBuffer()),
      ]),
    );
    assert.deepEqual(JSON.parse(text(r.body)), expected);
  });

  test("a body that is not a form is a TypeError in the agent, which says so", async () => {
    await assert.rejects(call("/parse", '{"a":1}', "application/json"), (e: Error) =>
      /TypeError: formData\(\): the body is application\/json, not a form/.test(e.message),
    );
  });

  test("Hono's parseBody and two setCookie calls run unchanged", async () => {
    const built = await buildAgent(join(repoRoot, "test", "fixtures", "hono-streaming"));
    const s = await IsolateSandbox.create({ meta, code: built.code });
    open.push(s);
    const form = new FormData();
    form.append("name", "Ada");
    form.append("file", new Blob(["hello"], { type: "text/plain" }), "hello.txt");
    const encoded = new Response(form);
    const r = await s.invoke({
      method: "POST",
      url: "https://s.agents.veil/form",
      headers: [["content-type", encoded.headers.get("content-type")!]],
      body: new Uint8Array(await encoded.arrayBuffer()),
    });
    assert.equal(r.status, 200, text(r.body));
    assert.deepEqual(JSON.parse(text(r.body)), { name: "Ada", file: "hello.txt", size: 5 });
    assert.deepEqual(
      r.headers.filter(([k]) => k === "set-cookie").map(([, v]) => v),
      ["a=1; Path=/", "b=2; Path=/"],
    );
  });
});
