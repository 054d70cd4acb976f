import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { VeilError } from "../../src/errors/index.ts";
import { DEFAULT_EGRESS } from "../../src/sandbox/egress.ts";
import { IsolateSandbox } from "../../src/sandbox/isolate.ts";
import type { SandboxResponse } from "../../src/sandbox/types.ts";
import { type OpenAIMock, startOpenAIMock } from "../helpers/openai-mock.ts";

// Responses made from a ReadableStream: the host pulls their chunks as the agent produces them.
const AGENT = `let count = 0;
export default { async fetch(request, env, ctx) {
  const u = new URL(request.url);
  if (u.pathname === "/count") return new Response(String(++count));
  const enc = new TextEncoder();
  if (u.pathname === "/sse") {
    // Relays an LLM answer as server-sent events, delta by delta.
    const s = await ctx.llm.chat({ model: "m", messages: [{ role: "user", content: u.searchParams.get("q") }], stream: true });
    return new Response(new ReadableStream({
      async start(c) {
        for await (const d of s) if (d.content) c.enqueue(enc.encode("data: " + JSON.stringify(d.content) + "\\n\\n"));
        const r = await s.result();
        c.enqueue("data: [DONE] " + r.usage.totalTokens + "\\n\\n");
        c.close();
      },
    }), { headers: { "content-type": "text/event-stream" } });
  }
  if (u.pathname === "/endless") {
    const kb = new Uint8Array(1024).fill(120);
    return new Response(new ReadableStream({ pull(c) { c.enqueue(kb); } }));
  }
  if (u.pathname === "/hang") {
    return new Response(new ReadableStream({ start(c) { c.enqueue("first"); }, pull() { return new Promise(() => {}); } }));
  }
  if (u.pathname === "/fails") {
    let n = 0;
    return new Response(new ReadableStream({ pull(c) { if (n++ < 2) c.enqueue("ok "); else throw new Error("upstream broke"); } }));
  }
  if (u.pathname === "/number") return new Response(new ReadableStream({ start(c) { c.enqueue(42); c.close(); } }));
  if (u.pathname === "/from") {
    async function* words() { for (const w of ["a", "b", "c"]) { await new Promise((r) => setTimeout(r, 5)); yield w; } }
    return new Response(ReadableStream.from(words()));
  }
  if (u.pathname === "/proxy") {
    // Passing another body on, as proxies do: new Response(res.body).
    const inner = new Response("proxied " + u.searchParams.get("n"));
    return new Response(inner.body, { headers: { "content-type": "text/plain" } });
  }
  if (u.pathname === "/looked") {
    // Looking at .body does not use a body of bytes up: it is still read, cloned and sent whole.
    const r = new Response("whole");
    const seen = r.body instanceof ReadableStream && !r.bodyUsed;
    const copy = await r.clone().text();
    return new Response(seen + " " + copy + " " + (await r.text()));
  }
  if (u.pathname === "/read") {
    // Agents can read a streamed body too.
    const inner = new Response(ReadableStream.from(["x", "y", "z"]));
    const locked = (() => { const s = new ReadableStream(); s.getReader(); try { s.getReader(); return false; } catch { return true; } })();
    return Response.json({ text: await inner.text(), used: inner.bodyUsed, locked });
  }
  return new Response("plain");
} };`;

let mock: OpenAIMock;
const sandboxes: IsolateSandbox[] = [];
before(async () => {
  mock = await startOpenAIMock();
});
after(async () => {
  for (const s of sandboxes) s.dispose();
  await mock.close();
});

async function sandbox(limits: { maxResponseBytes?: number; wallTimeMs?: number } = {}) {
  const s = await IsolateSandbox.create({
    code: AGENT,
    meta: {
      id: "9",
      name: "streamer",
      codeHash: `0x${"00".repeat(32)}`,
      secrets: { LLM_BASE_URL: mock.baseUrl },
    },
    limits: { ...limits, egress: { ...DEFAULT_EGRESS, allowHosts: [new URL(mock.url).host] } },
  });
  sandboxes.push(s);
  return s;
}

const get = (s: IsolateSandbox, path: string, acceptStream = true) =>
  s.invoke({
    method: "GET",
    url: `https://streamer.agents.veil${path}`,
    headers: [],
    body: null,
    acceptStream,
  });

const text = (b: Uint8Array) => new TextDecoder().decode(b);

async function drain(r: SandboxResponse): Promise<string> {
  let out = "";
  for await (const c of r.stream!.chunks) out += text(c);
  return out;
}

describe("streamed responses", () => {
  test("chunks reach the host while the agent is still producing them", async () => {
    const s = await sandbox();
    const r = await get(s, "/sse?q=stream-gated");
    assert.ok(r.stream, "a streamed body comes back as a stream");
    assert.equal(r.headers.find(([k]) => k === "content-type")?.[1], "text/event-stream");
    const it = r.stream.chunks[Symbol.asyncIterator]();
    const first = await it.next();
    // The LLM holds the rest of its answer until released: the agent cannot have finished.
    assert.equal(text(first.value as Uint8Array), 'data: "echo: "\n\n');
    let rest = "";
    mock.release();
    for (let c = await it.next(); !c.done; c = await it.next()) rest += text(c.value);
    assert.equal(rest, 'data: "stream-gated"\n\ndata: [DONE] 3\n\n');
    const end = await r.stream.finished;
    assert.equal(end.usage.llmCompletionTokens, 2);
    assert.ok(end.usage.wallUs > 0);
  });

  test("without acceptStream the body is collected; ReadableStream.from and strings work", async () => {
    const s = await sandbox();
    const r = await get(s, "/from", false);
    assert.equal(r.stream, undefined);
    assert.equal(text(r.body), "abc");
    const streamed = await get(s, "/from");
    assert.equal(await drain(streamed), "abc");
    const read = await get(s, "/read");
    assert.deepEqual(JSON.parse(text(read.body)), { text: "xyz", used: true, locked: true });
  });

  test("a body of bytes has a stream: passed on with new Response(other.body), or sent whole", async () => {
    const s = await sandbox();
    const proxied = await get(s, "/proxy?n=1");
    assert.ok(proxied.stream, "new Response(res.body) is a streamed body");
    assert.equal(await drain(proxied), "proxied 1");
    assert.equal(text((await get(s, "/proxy?n=2", false)).body), "proxied 2");
    const looked = await get(s, "/looked");
    assert.equal(looked.stream, undefined);
    assert.equal(text(looked.body), "true whole whole");
  });

  test("the response size limit is a running total: a stream over it is cut with a typed error", async () => {
    const s = await sandbox({ maxResponseBytes: 10 * 1024 });
    const r = await get(s, "/endless");
    await assert.rejects(
      drain(r),
      (e: unknown) => e instanceof VeilError && e.code === "LIMIT_RESPONSE_TOO_LARGE",
    );
    const end = await r.stream!.finished;
    assert.ok(end.error instanceof VeilError && end.error.code === "LIMIT_RESPONSE_TOO_LARGE");
    assert.ok(end.usage.cpuUs > 0, "what the cut stream used is still metered");
    await assert.rejects(
      get(s, "/endless", false),
      (e: unknown) => e instanceof VeilError && e.code === "LIMIT_RESPONSE_TOO_LARGE",
    );
    // The agent still answers afterwards.
    assert.equal(text((await get(s, "/plain", false)).body), "plain");
  });

  test("the wall-time limit holds until the stream ends", async () => {
    const s = await sandbox({ wallTimeMs: 300 });
    assert.equal(text((await get(s, "/count", false)).body), "1");
    const r = await get(s, "/hang");
    const it = r.stream!.chunks[Symbol.asyncIterator]();
    assert.equal(text((await it.next()).value as Uint8Array), "first");
    await assert.rejects(
      it.next(),
      (e: unknown) => e instanceof VeilError && e.code === "LIMIT_WALL_TIME_EXCEEDED",
    );
    // A stream left waiting is not a runaway agent: the isolate (and its module state) stays.
    assert.equal(text((await get(s, "/count", false)).body), "2");
  });

  test("a stream that errors, or yields what is not bytes, fails with AGENT_THREW", async () => {
    const s = await sandbox();
    const r = await get(s, "/fails");
    const parts: string[] = [];
    await assert.rejects(
      (async () => {
        for await (const c of r.stream!.chunks) parts.push(text(c));
      })(),
      (e: unknown) => e instanceof VeilError && e.code === "AGENT_THREW" && /upstream broke/.test(e.message),
    );
    assert.deepEqual(parts, ["ok ", "ok "]);
    await assert.rejects(
      get(s, "/number", false),
      (e: unknown) => e instanceof VeilError && e.code === "AGENT_THREW",
    );
  });

  test("a cancelled stream releases the request (the agent serves the next one)", async () => {
    const s = await sandbox();
    const r = await get(s, "/endless");
    const it = r.stream!.chunks[Symbol.asyncIterator]();
    await it.next();
    await it.return?.(undefined);
    const end = await r.stream!.finished;
    assert.ok(end.usage.cpuUs >= 0);
    assert.equal(text((await get(s, "/plain")).body), "plain");
  });
});
