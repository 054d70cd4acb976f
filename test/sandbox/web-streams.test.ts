// Issue 19: the WHATWG Streams an agent gets are the standard's, in the real sandbox: writable
// and transform streams, pipes, tee, byte streams, text streams, and Hono's streaming helpers
// unchanged. Each case failed before ("TransformStream is not defined", no tee, no pipeTo).
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { IsolateSandbox } from "../../src/sandbox/isolate.ts";
import type { SandboxResponse } from "../../src/sandbox/types.ts";
import { buildAgent } from "../../src/sdk/build.ts";
import { repoRoot } from "../helpers/cli.ts";

const meta = { id: "19", name: "streams", codeHash: `0x${"19".repeat(32)}` };
const text = (b: Uint8Array) => new TextDecoder().decode(b);

async function drain(r: SandboxResponse): Promise<string[]> {
  const out: string[] = [];
  for await (const c of r.stream!.chunks) out.push(text(c));
  return out;
}

/** Runs `body` as an agent's fetch handler and answers what it returns, as JSON. */
async function evaluate(body: string): Promise<unknown> {
  const s = await IsolateSandbox.create({
    meta,
    code: `export default { async fetch(request, env, ctx) { const result = await (async () => { ${body} })(); return Response.json(result); } };`,
  });
  try {
    const r = await s.invoke({ method: "GET", url: "https://streams.agents.veil/", headers: [], body: null });
    assert.equal(r.status, 200, text(r.body));
    return JSON.parse(text(r.body));
  } finally {
    s.dispose();
  }
}

describe("web streams in the sandbox", () => {
  const open: IsolateSandbox[] = [];
  after(() => {
    for (const s of open) s.dispose();
  });

  test("every stream class of the standard is a global", async () => {
    const names = [
      "ReadableStream",
      "ReadableStreamDefaultReader",
      "ReadableStreamBYOBReader",
      "ReadableByteStreamController",
      "WritableStream",
      "WritableStreamDefaultWriter",
      "TransformStream",
      "ByteLengthQueuingStrategy",
      "CountQueuingStrategy",
      "TextEncoderStream",
      "TextDecoderStream",
    ];
    const got = await evaluate(
      `return ${JSON.stringify(names)}.filter((n) => typeof globalThis[n] !== "function");`,
    );
    assert.deepEqual(got, []);
  });

  test("pipeThrough a TransformStream, pipeTo a WritableStream, tee", async () => {
    const got = await evaluate(`
      const upper = new TransformStream({ transform(chunk, c) { c.enqueue(chunk.toUpperCase()); } });
      const seen = [];
      await ReadableStream.from(["a", "b", "c"]).pipeThrough(upper).pipeTo(new WritableStream({ write(chunk) { seen.push(chunk); } }));
      const [left, right] = ReadableStream.from([1, 2, 3]).tee();
      const all = async (s) => { const out = []; for await (const x of s) out.push(x); return out; };
      return { seen, left: await all(left), right: await all(right) };
    `);
    assert.deepEqual(got, { seen: ["A", "B", "C"], left: [1, 2, 3], right: [1, 2, 3] });
  });

  test("a pipe's abort signal stops it; a writer's backpressure holds the producer", async () => {
    const got = await evaluate(`
      const controller = new AbortController();
      let pulled = 0;
      const source = new ReadableStream({ pull(c) { pulled++; c.enqueue(pulled); if (pulled === 3) controller.abort(new Error("enough")); } });
      const sink = [];
      const reason = await source.pipeTo(new WritableStream({ write(x) { sink.push(x); } }), { signal: controller.signal }).then(() => "finished", (e) => e.message);
      const ws = new WritableStream({ write() { return new Promise((r) => setTimeout(r, 5)); } }, new CountQueuingStrategy({ highWaterMark: 2 }));
      const writer = ws.getWriter();
      const sizes = [writer.desiredSize];
      writer.write("x"); sizes.push(writer.desiredSize);
      writer.write("y"); sizes.push(writer.desiredSize);
      await writer.ready; await writer.close();
      return { reason, sinkStartsWith: sink.slice(0, 2), sizes };
    `);
    assert.deepEqual(got, { reason: "enough", sinkStartsWith: [1, 2], sizes: [2, 1, 0] });
  });

  test("byte streams with a BYOB reader", async () => {
    const got = await evaluate(`
      const stream = new ReadableStream({ type: "bytes", start(c) { c.enqueue(new Uint8Array([1, 2, 3, 4, 5])); c.close(); } });
      const reader = stream.getReader({ mode: "byob" });
      const first = await reader.read(new Uint8Array(2));
      const second = await reader.read(new Uint8Array(8));
      return [Array.from(first.value), Array.from(second.value)];
    `);
    assert.deepEqual(got, [
      [1, 2],
      [3, 4, 5],
    ]);
  });

  test("TextDecoderStream keeps a character split across chunks whole; TextEncoderStream encodes", async () => {
    const got = await evaluate(`
      const bytes = new TextEncoder().encode("héllo 🌍 wörld");
      const chunks = [bytes.slice(0, 2), bytes.slice(2, 9), bytes.slice(9)];
      let decoded = "";
      for await (const s of ReadableStream.from(chunks).pipeThrough(new TextDecoderStream())) decoded += s;
      const encoded = [];
      for await (const b of ReadableStream.from(["a", "\\ud83c", "\\udf0d"]).pipeThrough(new TextEncoderStream())) encoded.push(...b);
      const split = new TextDecoder();
      const parts = split.decode(bytes.slice(0, 2), { stream: true }) + split.decode(bytes.slice(2), { stream: true }) + split.decode();
      return { decoded, encoded: new TextDecoder().decode(new Uint8Array(encoded)), parts };
    `);
    assert.deepEqual(got, { decoded: "héllo 🌍 wörld", encoded: "a🌍", parts: "héllo 🌍 wörld" });
  });

  test("a Response streams a body made by a TransformStream, chunk by chunk", async () => {
    const s = await IsolateSandbox.create({
      meta,
      code: `export default { fetch() {
        const { readable, writable } = new TransformStream();
        (async () => { const w = writable.getWriter(); for (const x of ["a", "b", "c"]) { await w.write(new TextEncoder().encode(x)); await new Promise((r) => setTimeout(r, 5)); } await w.close(); })();
        return new Response(readable, { headers: { "content-type": "text/plain" } });
      } };`,
    });
    open.push(s);
    const r = await s.invoke({
      method: "GET",
      url: "https://s.agents.veil/",
      headers: [],
      body: null,
      acceptStream: true,
    });
    assert.ok(r.stream);
    assert.equal((await drain(r)).join(""), "abc");
  });

  test("Hono's streamText and streamSSE run unchanged", async () => {
    const built = await buildAgent(join(repoRoot, "test", "fixtures", "hono-streaming"));
    const s = await IsolateSandbox.create({ meta, code: built.code });
    open.push(s);
    const get = (path: string) =>
      s.invoke({
        method: "GET",
        url: `https://s.agents.veil${path}`,
        headers: [],
        body: null,
        acceptStream: true,
      });
    const t = await get("/text");
    assert.equal(t.status, 200);
    assert.match(t.headers.find(([k]) => k === "content-type")?.[1] ?? "", /text\/plain/);
    const words = await drain(t);
    assert.equal(words.join(""), "one two three ");
    assert.ok(words.length >= 3, `streamed as it was written: ${JSON.stringify(words)}`);
    const sse = await get("/sse");
    assert.equal(sse.headers.find(([k]) => k === "content-type")?.[1], "text/event-stream");
    assert.equal(
      (await drain(sse)).join(""),
      "event: tick\ndata: tick 1\nid: 1\n\nevent: tick\ndata: tick 2\nid: 2\n\nevent: tick\ndata: tick 3\nid: 3\n\n",
    );
  });
});

describe("the rest of a Workers-style global scope", () => {
  test("MessageChannel delivers structured clones as tasks, in order, once a port is started", async () => {
    const got = await evaluate(`
      const { port1, port2 } = new MessageChannel();
      const seen = [];
      const sent = { n: 1, list: [1, 2] };
      port1.postMessage(sent);
      sent.n = 99;
      port1.postMessage("second");
      let syncSeen = 0;
      const done = new Promise((resolve) => {
        port2.onmessage = (e) => { seen.push(e.data); if (seen.length === 2) resolve(); };
        syncSeen = seen.length;
      });
      await done;
      let illegal;
      try { new MessagePort(); } catch (e) { illegal = e.name; }
      const queued = new MessageChannel();
      let early = false;
      queued.port2.addEventListener("message", () => { early = true; });
      queued.port1.postMessage("held");
      await new Promise((r) => setTimeout(r, 20));
      const beforeStart = early;
      queued.port2.start();
      await new Promise((r) => setTimeout(r, 20));
      return { seen, syncSeen, illegal, beforeStart, afterStart: early, event: new MessageEvent("message", { data: 7 }).data };
    `);
    assert.deepEqual(got, {
      seen: [{ n: 1, list: [1, 2] }, "second"],
      syncSeen: 0,
      illegal: "TypeError",
      beforeStart: false,
      afterStart: true,
      event: 7,
    });
  });

  test("classes keep their names (constructor.name, error names, stacks)", async () => {
    const got = await evaluate(`
      const names = ["Request", "Response", "Headers", "URL", "URLSearchParams", "Blob", "File", "FormData", "TextEncoder", "TextDecoder", "AbortController", "EventTarget", "CustomEvent", "MessageChannel", "CompressionStream", "ReadableStream", "TransformStream", "URLPattern", "CryptoKey", "DOMException"];
      const wrong = names.filter((n) => globalThis[n].name !== n);
      let thrown;
      try { await fetch("https://nowhere.invalid/", { method: "BAD METHOD" }); } catch (e) { thrown = e.constructor.name; }
      const llm = ctx.llm.Error.name;
      return { wrong, response: new Response("x").constructor.name, thrown, llm };
    `);
    assert.deepEqual(got, { wrong: [], response: "Response", thrown: "TypeError", llm: "LlmError" });
  });

  test("self, navigator, performance, reportError, CustomEvent; Set-Cookie lines kept apart", async () => {
    const got = await evaluate(`
      const t0 = performance.now();
      await new Promise((r) => setTimeout(r, 20));
      const elapsed = performance.now() - t0;
      const target = new EventTarget();
      let detail;
      target.addEventListener("ping", (e) => { detail = e.detail; });
      target.dispatchEvent(new CustomEvent("ping", { detail: { n: 1 } }));
      const h = new Headers();
      h.append("Set-Cookie", "a=1; Path=/");
      h.append("Set-Cookie", "b=2; Path=/");
      h.append("Accept", "x");
      h.append("accept", "y");
      return {
        self: self === globalThis,
        userAgent: navigator.userAgent,
        elapsedOk: elapsed >= 15 && elapsed < 1000,
        reportError: typeof reportError,
        detail,
        cookies: h.getSetCookie(),
        accept: h.get("accept"),
        entries: [...h],
      };
    `);
    assert.deepEqual(got, {
      self: true,
      userAgent: "Veil",
      elapsedOk: true,
      reportError: "function",
      detail: { n: 1 },
      cookies: ["a=1; Path=/", "b=2; Path=/"],
      accept: "x, y",
      entries: [
        ["accept", "x, y"],
        ["set-cookie", "a=1; Path=/"],
        ["set-cookie", "b=2; Path=/"],
      ],
    });
  });
});
