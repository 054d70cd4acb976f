import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { VeilError } from "../../src/errors/index.ts";
import { VeilClient } from "../../src/sdk/client.ts";
import { readNetwork, repoRoot, startNetwork, stopNetwork, veil, veilBin } from "../helpers/cli.ts";
import { type OpenAIMock, startOpenAIMock } from "../helpers/openai-mock.ts";

// Streamed answers on a real network (`veil up`): examples/chat relays an LLM's deltas as
// server-sent events; they cross the sandbox, the worker and the gateway as they come, and the
// receipts over the whole body follow as trailers. Also examples/pipeline, deployed for real.
const FLOOD = `let cancelled = "no";
export default { async fetch(request: Request) {
  const path = new URL(request.url).pathname;
  if (path === "/cancelled") return new Response(cancelled);
  if (path === "/slow") {
    // A chunk every 50 ms until the reader goes away.
    let n = 0;
    return new Response(new ReadableStream({
      async pull(c) { await new Promise((r) => setTimeout(r, 50)); c.enqueue("tick " + n++ + "\\n"); },
      cancel() { cancelled = "yes"; },
    }));
  }
  const kb = new Uint8Array(1024).fill(120);
  return new Response(new ReadableStream({ pull(c) { c.enqueue(kb); } }));
} };
`;

const KEY = "sk-e2e-stream";
const text = (b: Uint8Array) => new TextDecoder().decode(b);

describe("streamed answers through the gateway", { timeout: 400_000 }, () => {
  const work = mkdtempSync(join(tmpdir(), "veil-stream-"));
  const dir = join(work, ".veil");
  const env = { VEIL_NETWORK: join(dir, "network.json") };
  let network: Awaited<ReturnType<typeof startNetwork>>;
  let client: VeilClient;
  let mock: OpenAIMock;

  before(async () => {
    mock = await startOpenAIMock({ apiKey: KEY });
    // The model server is on loopback: the workers' operator must allow it (docs/adr/0018).
    network = await startNetwork(dir, ["--allow-private-egress", new URL(mock.url).host]);
    client = new VeilClient(readNetwork(dir) as unknown as ConstructorParameters<typeof VeilClient>[0]);
    const host = new URL(mock.url).host;
    mkdirSync(join(work, "flood", "src"), { recursive: true });
    writeFileSync(join(work, "flood", "src", "index.ts"), FLOOD);
    for (const [path, name, extra] of [
      [join(repoRoot, "examples/chat"), "chat", ["--egress", host]],
      [join(work, "flood"), "flood", ["--max-response-bytes", "65536"]],
      [join(repoRoot, "examples/pipeline/tool"), "pipeline-tool", []],
      [join(repoRoot, "examples/pipeline/planner"), "pipeline-planner", []],
    ] as const) {
      const d = await veil(["deploy", path, "--name", name, ...extra], { env });
      assert.equal(d.code, 0, d.stderr);
    }
    const s = await veil(["secrets", "set", "chat", `LLM_BASE_URL=${mock.baseUrl}`, `LLM_API_KEY=${KEY}`], {
      env,
    });
    assert.equal(s.code, 0, s.stderr);
    // Workers restart the agent with its new env: wait until every one has.
    const deadline = Date.now() + 60_000;
    let ok = 0;
    while (ok < 4 && Date.now() < deadline) {
      const r = await client.invoke("chat", {
        path: "/chat",
        body: JSON.stringify({ session: "warm", message: "hi" }),
        verify: false,
      });
      ok = r.status === 200 ? ok + 1 : 0;
      if (ok < 4) await new Promise((r) => setTimeout(r, 300));
    }
    assert.equal(ok, 4, "the chat agent never got its LLM secrets");
  });
  after(async () => {
    if (network) await stopNetwork(network.child);
    await mock?.close();
    rmSync(work, { recursive: true, force: true });
  });

  test("the first chunk reaches the client while the agent still runs; receipts follow the body", async () => {
    const answer = await client.invokeStream("chat", {
      path: "/chat",
      body: JSON.stringify({ session: "sdk", message: "stream-gated", stream: true }),
    });
    assert.equal(answer.status, 200);
    assert.equal(answer.streamed, true);
    assert.equal(answer.headers["content-type"], "text/event-stream");
    const it = answer.body[Symbol.asyncIterator]();
    const first = await it.next();
    // The LLM holds back the rest of its answer until released: the agent cannot have finished.
    assert.equal(text(first.value as Uint8Array), 'data: {"delta":"echo: "}\n\n');
    mock.release();
    let rest = "";
    for (let c = await it.next(); !c.done; c = await it.next()) rest += text(c.value);
    assert.match(rest, /^data: \{"delta":"stream-gated"\}\n\ndata: \{"done":true/);
    const end = await answer.done();
    assert.ok(end.verified, "the receipt over the whole streamed body verifies");
    assert.equal(end.usage?.llmCompletionTokens, 2);
    assert.equal(end.llmReceipts.length, 1);
    assert.equal(end.llmReceipts[0]!.model, "gpt-4o-mini");
    assert.equal(end.llmReceipts[0]!.baseUrl, mock.baseUrl);
  });

  test("veil invoke prints the chunks as they come", async () => {
    const child = spawn(
      process.execPath,
      [
        veilBin,
        "invoke",
        "chat",
        "--path",
        "/chat",
        "--data",
        JSON.stringify({ session: "cli", message: "stream-gated", stream: true }),
      ],
      { cwd: repoRoot, env: { ...process.env, ...env, NO_COLOR: "1" }, stdio: ["ignore", "pipe", "pipe"] },
    );
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr.on("data", (c: Buffer) => {
      stderr += c.toString();
    });
    const exited = new Promise<number>((r) => child.on("exit", (code) => r(code ?? 1)));
    const deadline = Date.now() + 60_000;
    while (!stdout.includes('"delta":"echo: "') && Date.now() < deadline && child.exitCode === null)
      await new Promise((r) => setTimeout(r, 20));
    assert.equal(stdout, 'data: {"delta":"echo: "}\n\n', stderr);
    assert.equal(child.exitCode, null, "the CLI printed the first chunk before the agent finished");
    mock.release();
    assert.equal(await exited, 0, stderr);
    assert.match(stdout, /"delta":"stream-gated".*"done":true/s);
    assert.match(stderr, /receipt verified/);
    assert.match(stderr, /1 LLM call receipt\(s\) verified: default\/gpt-4o-mini/);
  });

  test("a streamed body over the response limit is cut with a typed error", async () => {
    await assert.rejects(
      client.invoke("flood", { path: "/" }),
      (e: unknown) => e instanceof VeilError && e.code === "LIMIT_RESPONSE_TOO_LARGE",
    );
    const cli = await veil(["invoke", "flood"], { env });
    assert.notEqual(cli.code, 0);
    assert.match(cli.stderr, /LIMIT_RESPONSE_TOO_LARGE|over its 65536/);
  });

  test("a client that goes away stops the agent's stream, through the gateway and the worker", async () => {
    const answer = await client.invokeStream("flood", { path: "/slow", verify: false });
    const it = answer.body[Symbol.asyncIterator]();
    assert.equal(text((await it.next()).value as Uint8Array), "tick 0\n");
    assert.equal(text((await client.invoke("flood", { path: "/cancelled", verify: false })).body), "no");
    await it.return?.(undefined);
    await assert.rejects(
      answer.done(),
      (e: unknown) => e instanceof VeilError && e.code === "STREAM_ABANDONED",
    );
    const deadline = Date.now() + 5_000;
    let seen = "no";
    while (seen !== "yes" && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      seen = text((await client.invoke("flood", { path: "/cancelled", verify: false })).body);
    }
    assert.equal(seen, "yes", "the agent's stream was cancelled");
  });

  test("an encrypted answer streams too, sealed piece by piece, its receipts in the sealed end", async () => {
    const answer = await client.invokeStream("chat", {
      path: "/chat",
      body: JSON.stringify({ session: "sealed", message: "stream-gated", stream: true }),
      encrypt: true,
    });
    assert.equal(answer.status, 200);
    assert.equal(answer.streamed, true);
    assert.equal(answer.headers["content-type"], "text/event-stream");
    const it = answer.body[Symbol.asyncIterator]();
    assert.equal(text((await it.next()).value as Uint8Array), 'data: {"delta":"echo: "}\n\n');
    mock.release();
    let rest = "";
    for (let c = await it.next(); !c.done; c = await it.next()) rest += text(c.value);
    assert.match(rest, /"delta":"stream-gated".*"done":true/s);
    const end = await answer.done();
    assert.ok(end.verified);
    assert.equal(end.usage?.llmCompletionTokens, 2);
    assert.equal(end.llmReceipts.length, 1);
    // Read whole, the same answer verifies as one body; a cut one fails with its typed error.
    const whole = await client.invoke("chat", {
      path: "/chat",
      body: JSON.stringify({ session: "sealed", message: "quiet please", stream: true }),
      encrypt: true,
    });
    assert.match(text(whole.body), /"delta":"echo: ".*"delta":"quiet ".*"done":true/s);
    assert.ok(whole.verified && whole.usage && whole.llmReceipts?.length === 1);
    await assert.rejects(
      client.invoke("flood", { path: "/", encrypt: true }),
      (e: unknown) => e instanceof VeilError && e.code === "LIMIT_RESPONSE_TOO_LARGE",
    );
  });

  test("examples/pipeline: the planner has the tool agent do each step", async () => {
    const r = await client.invoke("pipeline-planner", {
      path: "/plan",
      body: JSON.stringify({
        steps: [
          { op: "add", a: 2, b: 40 },
          { op: "mul", a: "$prev", b: 3 },
        ],
      }),
    });
    const json = JSON.parse(text(r.body));
    assert.equal(r.status, 200, JSON.stringify(json));
    assert.equal(json.answer, 126);
    const direct = await client.invoke("pipeline-tool", { path: "/calc", body: '{"op":"add","a":1,"b":1}' });
    assert.equal(direct.status, 403);
  });
});
