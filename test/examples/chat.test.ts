import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { DEFAULT_EGRESS } from "../../src/sandbox/egress.ts";
import { IsolateSandbox } from "../../src/sandbox/isolate.ts";
import type { SandboxResponse } from "../../src/sandbox/types.ts";
import { buildAgent } from "../../src/sdk/build.ts";
import { EncryptedAgentState } from "../../src/storage/agent-state.ts";
import { SqliteStateStore } from "../../src/storage/state-store.ts";
import { type OpenAIMock, startOpenAIMock } from "../helpers/openai-mock.ts";

// examples/chat as a worker runs it: its bundle in the real sandbox, memory in the encrypted
// SQLite state store, the LLM a local OpenAI-compatible server.
const KEY = "sk-chat-test";
const dir = mkdtempSync(join(tmpdir(), "veil-chat-"));
const store = new SqliteStateStore(join(dir, "state.sqlite"));
let mock: OpenAIMock;
let agent: IsolateSandbox;

before(async () => {
  mock = await startOpenAIMock({ apiKey: KEY });
  const built = await buildAgent("examples/chat");
  agent = await IsolateSandbox.create({
    code: built.code,
    meta: {
      id: "21",
      name: "chat",
      codeHash: built.hash,
      secrets: { LLM_BASE_URL: mock.baseUrl, LLM_API_KEY: KEY, LLM_MODEL: "mock-1" },
    },
    state: new EncryptedAgentState(store, 21n, randomBytes(32)),
    limits: { egress: { ...DEFAULT_EGRESS, allowHosts: [new URL(mock.url).host] } },
  });
});
after(async () => {
  agent?.dispose();
  store.close();
  await mock?.close();
  rmSync(dir, { recursive: true, force: true });
});

function call(method: string, path: string, body?: unknown, acceptStream = false): Promise<SandboxResponse> {
  return agent.invoke({
    method,
    url: `https://chat.agents.veil${path}`,
    headers: body === undefined ? [] : [["content-type", "application/json"]],
    body: body === undefined ? null : new TextEncoder().encode(JSON.stringify(body)),
    acceptStream,
  });
}
const json = (r: SandboxResponse) => JSON.parse(new TextDecoder().decode(r.body));

describe("examples/chat", () => {
  test("remembers a session's turns in ctx.state and sends them to the LLM", async () => {
    const first = await call("POST", "/chat", { session: "s1", message: "Hello, I am Ada" });
    assert.equal(first.status, 200);
    assert.equal(json(first).reply, "echo: Hello, I am Ada");
    assert.equal(json(first).turns, 1);
    const second = await call("POST", "/chat", { session: "s1", message: "Who am I?" });
    assert.equal(json(second).turns, 2);
    // The second request carried the first turn: system, user, assistant, user.
    const sent = mock.requests.at(-1)!;
    assert.equal(sent.body.model, "mock-1");
    assert.equal(sent.authorization, `Bearer ${KEY}`);
    assert.deepEqual(
      sent.body.messages.map((m) => [m.role, m.content]),
      [
        ["system", "You are a helpful assistant."],
        ["user", "Hello, I am Ada"],
        ["assistant", "echo: Hello, I am Ada"],
        ["user", "Who am I?"],
      ],
    );
    // Another session starts empty.
    await call("POST", "/chat", { session: "s2", message: "hi" });
    assert.equal(mock.requests.at(-1)!.body.messages.length, 2);
    const history = json(await call("GET", "/history?session=s1"));
    assert.equal(history.messages.length, 4);
    assert.equal(json(await call("DELETE", "/history?session=s1")).forgotten, true);
    assert.deepEqual(json(await call("GET", "/history?session=s1")).messages, []);
  });

  test("streams the reply as server-sent events and remembers it at the end", async () => {
    const r = await call(
      "POST",
      "/chat",
      { session: "s3", message: "stream this please", stream: true },
      true,
    );
    assert.ok(r.stream, `${r.status} ${new TextDecoder().decode(r.body)}`);
    assert.equal(r.headers.find(([k]) => k === "content-type")?.[1], "text/event-stream");
    let text = "";
    for await (const c of r.stream.chunks) text += new TextDecoder().decode(c);
    const events = text
      .split("\n\n")
      .filter(Boolean)
      .map((e) => JSON.parse(e.replace(/^data: /, "")));
    assert.equal(
      events
        .filter((e) => e.delta)
        .map((e) => e.delta)
        .join(""),
      "echo: stream this please",
    );
    assert.ok(events.filter((e) => e.delta).length > 1, "the reply came in pieces");
    assert.deepEqual(events.at(-1), {
      done: true,
      turns: 1,
      usage: { promptTokens: 8, completionTokens: 4, totalTokens: 12 },
    });
    assert.equal((await r.stream.finished).usage.llmCompletionTokens, 4);
    assert.equal(
      json(await call("GET", "/history?session=s3")).messages[1].content,
      "echo: stream this please",
    );
  });

  test("bad input and LLM failures are answered with errors and remember nothing", async () => {
    assert.equal((await call("POST", "/chat", { session: "bad id!", message: "x" })).status, 400);
    assert.equal((await call("POST", "/chat", { session: "s4", message: "" })).status, 400);
    assert.equal((await call("POST", "/chat", { session: "s4", message: "x".repeat(4001) })).status, 400);
    assert.equal((await call("GET", "/history")).status, 400);
    const failed = await call("POST", "/chat", { session: "s4", message: "error:503" });
    assert.equal(failed.status, 502);
    assert.equal(json(failed).code, "LLM_PROVIDER_ERROR");
    assert.deepEqual(json(await call("GET", "/history?session=s4")).messages, []);
  });
});
