import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { recoverAddress } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { llmReceiptDigest } from "../../src/chain/certificates.ts";
import { DEFAULT_EGRESS } from "../../src/sandbox/egress.ts";
import type { LlmReceipt, LlmSigner } from "../../src/sandbox/host-llm.ts";
import { IsolateSandbox } from "../../src/sandbox/isolate.ts";
import { type OpenAIMock, startOpenAIMock } from "../helpers/openai-mock.ts";

const KEY = "sk-test-123";
const worker = privateKeyToAccount(generatePrivateKey());
const domain = { chainId: 31337, workerRegistry: `0x${"11".repeat(20)}` as const };
const signer: LlmSigner = async (fields) => {
  const unsigned = { ...fields, worker: worker.address };
  const signature = await worker.sign({ hash: llmReceiptDigest({ ...domain, ...unsigned }) });
  return { ...unsigned, signature };
};

// An agent that passes the JSON body to ctx.llm.chat and reports what it got.
const AGENT = `export default { async fetch(request, env, ctx) {
  const q = await request.json();
  try {
    if (q.do === "env") return Response.json({ key: env.LLM_API_KEY ?? null, base: env.LLM_BASE_URL ?? null });
    if (q.do === "tools") {
      const tools = [{ type: "function", function: { name: "add", parameters: { type: "object" } } }];
      const messages = [{ role: "user", content: q.text }];
      const first = await ctx.llm.chat({ model: "m", messages, tools, stream: q.stream });
      const r1 = q.stream ? await first.result() : first;
      const call = r1.toolCalls[0];
      messages.push(r1.message, { role: "tool", tool_call_id: call.id, content: String(call.arguments.a + call.arguments.b) });
      const r2 = await ctx.llm.chat({ model: "m", messages, tools });
      return Response.json({ call, finish: r1.finishReason, answer: r2.content });
    }
    if (q.stream) {
      const s = await ctx.llm.chat({ model: "m", messages: [{ role: "user", content: q.text }], stream: true, provider: q.provider });
      const deltas = [];
      for await (const d of s) {
        deltas.push(d);
        // The rest of a gated answer is sent only after this: deltas must arrive as they are sent.
        if (deltas.length === 1 && q.release) await fetch(q.release, { method: "POST" });
      }
      const r = await s.result();
      return Response.json({ deltas, content: r.content, usage: r.usage, receipt: r.receipt });
    }
    const r = await ctx.llm.chat({ model: "m", messages: [{ role: "user", content: q.text }], provider: q.provider, timeoutMs: q.timeoutMs });
    return Response.json({ content: r.content, usage: r.usage, receipt: r.receipt ?? null });
  } catch (e) {
    return Response.json({ error: e.code, name: e.name, status: e.status ?? null, message: e.message, typed: e instanceof ctx.llm.Error }, { status: 500 });
  }
} };`;

let mock: OpenAIMock;
before(async () => {
  mock = await startOpenAIMock({ apiKey: KEY });
});
after(() => mock.close());

const sandboxes: IsolateSandbox[] = [];
after(() => {
  for (const s of sandboxes) s.dispose();
});

async function agent(
  options: { secrets?: Record<string, string>; allowHosts?: string[]; sign?: boolean } = {},
): Promise<IsolateSandbox> {
  const host = new URL(mock.url).host;
  const s = await IsolateSandbox.create({
    code: AGENT,
    meta: {
      id: "7",
      name: "chatty",
      codeHash: `0x${"00".repeat(32)}`,
      secrets: options.secrets ?? { LLM_BASE_URL: mock.baseUrl, LLM_API_KEY: KEY },
    },
    limits: { egress: { ...DEFAULT_EGRESS, allowHosts: options.allowHosts ?? [host] } },
    ...(options.sign === false ? {} : { llmSigner: signer }),
  });
  sandboxes.push(s);
  return s;
}

async function ask(s: IsolateSandbox, q: Record<string, unknown>) {
  const res = await s.invoke({
    method: "POST",
    url: "https://chatty.agents.veil/",
    headers: [["content-type", "application/json"]],
    body: new TextEncoder().encode(JSON.stringify(q)),
  });
  return { status: res.status, json: JSON.parse(new TextDecoder().decode(res.body)), res };
}

describe("ctx.llm", () => {
  test("chats with the configured provider; the host adds the key, meters tokens and signs a receipt", async () => {
    const s = await agent();
    const { status, json, res } = await ask(s, { text: "hello there" });
    assert.equal(status, 200);
    assert.equal(json.content, "echo: hello there");
    assert.equal(mock.requests.at(-1)?.authorization, `Bearer ${KEY}`);
    assert.deepEqual(json.usage, { promptTokens: 2, completionTokens: 3, totalTokens: 5 });
    assert.equal(res.usage.llmPromptTokens, 2);
    assert.equal(res.usage.llmCompletionTokens, 3);
    const receipt = json.receipt as LlmReceipt;
    assert.equal(receipt.provider, "default");
    assert.equal(receipt.model, "m");
    assert.equal(receipt.baseUrl, mock.baseUrl);
    assert.match(receipt.requestHash, /^0x[0-9a-f]{64}$/);
    const signedBy = await recoverAddress({
      hash: llmReceiptDigest({ ...domain, ...receipt }),
      signature: receipt.signature,
    });
    assert.equal(signedBy, worker.address);
    // A receipt whose fields were changed no longer recovers to the worker.
    const forged = await recoverAddress({
      hash: llmReceiptDigest({ ...domain, ...receipt, completionTokens: 1 }),
      signature: receipt.signature,
    });
    assert.notEqual(forged, worker.address);
    // The caller gets the same receipts with the response.
    assert.deepEqual(res.llmReceipts, [receipt]);
  });

  test("the provider's API key never reaches agent code", async () => {
    const s = await agent();
    const { json } = await ask(s, { do: "env" });
    assert.equal(json.key, null);
    assert.equal(json.base, mock.baseUrl);
  });

  test("named providers: LLM_<NAME>_BASE_URL / LLM_<NAME>_API_KEY, chosen with provider", async () => {
    const s = await agent({
      secrets: { LLM_LOCAL_BASE_URL: mock.baseUrl, LLM_LOCAL_API_KEY: KEY },
    });
    const named = await ask(s, { text: "hi", provider: "local" });
    assert.equal(named.json.content, "echo: hi");
    assert.equal(named.json.receipt.provider, "local");
    const missing = await ask(s, { text: "hi" });
    assert.equal(missing.json.error, "LLM_NOT_CONFIGURED");
    assert.match(missing.json.message, /LLM_BASE_URL.*veil secrets set/);
    assert.match(missing.json.message, /configured: local/);
  });

  test("a wrong key is a provider error with the HTTP status", async () => {
    const s = await agent({ secrets: { LLM_BASE_URL: mock.baseUrl, LLM_API_KEY: "sk-wrong" } });
    const { json } = await ask(s, { text: "hi" });
    assert.equal(json.error, "LLM_PROVIDER_ERROR");
    assert.equal(json.status, 401);
    assert.equal(json.typed, true);
    assert.equal(json.name, "LlmError");
    assert.match(json.message, /Incorrect API key/);
    assert.doesNotMatch(json.message, /sk-wrong/);
  });

  test("provider errors, malformed answers and time-outs are typed errors", async () => {
    const s = await agent();
    const overloaded = await ask(s, { text: "error:503" });
    assert.equal(overloaded.json.error, "LLM_PROVIDER_ERROR");
    assert.equal(overloaded.json.status, 503);
    assert.equal((await ask(s, { text: "garbage" })).json.error, "LLM_MALFORMED_RESPONSE");
    assert.equal((await ask(s, { text: "garbage", stream: true })).json.error, "LLM_MALFORMED_RESPONSE");
    const slow = await ask(s, { text: "slow:1500", timeoutMs: 200 });
    assert.equal(slow.json.error, "LLM_TIMEOUT");
    assert.equal(slow.json.typed, true);
  });

  test("the egress policy applies: loopback is refused unless the host is listed explicitly", async () => {
    const s = await agent({ allowHosts: ["*"] });
    const { json } = await ask(s, { text: "hi" });
    assert.equal(json.error, "EGRESS_PRIVATE_ADDRESS");
    assert.equal(mock.requests.filter((r) => r.body.messages[0]?.content === "hi-unreached").length, 0);
    const other = await agent({ allowHosts: ["api.example.com"] });
    assert.equal((await ask(other, { text: "hi" })).json.error, "EGRESS_HOST_NOT_ALLOWED");
  });

  test("streams deltas as the provider sends them, then the whole message with usage and receipt", async () => {
    const s = await agent();
    const { json, res } = await ask(s, {
      text: "stream-gated now please",
      stream: true,
      release: `${mock.url}/release`,
    });
    assert.equal(json.error, undefined, json.message);
    assert.ok(json.deltas.length >= 3, "several deltas");
    assert.equal(
      json.deltas.map((d: { content?: string }) => d.content ?? "").join(""),
      "echo: stream-gated now please",
    );
    assert.equal(json.deltas.at(-1).finishReason, "stop");
    assert.equal(json.content, "echo: stream-gated now please");
    assert.ok(json.usage.completionTokens > 0);
    assert.equal(res.usage.llmCompletionTokens, json.usage.completionTokens);
    assert.equal(
      await recoverAddress({
        hash: llmReceiptDigest({ ...domain, ...json.receipt }),
        signature: json.receipt.signature,
      }),
      worker.address,
    );
  });

  test("tool calls round-trip, streamed or not", async () => {
    const s = await agent();
    for (const stream of [false, true]) {
      const { json } = await ask(s, { do: "tools", text: 'tool:add {"a":2,"b":40}', stream });
      assert.equal(json.error, undefined, json.message);
      assert.deepEqual(json.call, { id: "call_1", name: "add", arguments: { a: 2, b: 40 } });
      assert.equal(json.finish, "tool_calls");
      assert.equal(json.answer, "tool said: 42");
    }
    const sent = mock.requests.at(-1)!.body.messages;
    assert.equal(sent[1]?.role, "assistant");
    assert.equal(sent[2]?.role, "tool");
    assert.equal(sent[2]?.tool_call_id, "call_1");
  });

  test("tool call arguments that are not JSON are a malformed response", async () => {
    const s = await agent();
    const { json } = await ask(s, { do: "tools", text: "tool:add {oops" });
    assert.equal(json.error, "LLM_MALFORMED_RESPONSE");
  });

  test("bad options are refused before anything is sent", async () => {
    const s = await IsolateSandbox.create({
      code: `export default { async fetch(req, env, ctx) {
        try { await ctx.llm.chat({ messages: [] }); } catch (e) { return Response.json({ code: e.code }); }
        return new Response("sent");
      } };`,
      meta: {
        id: "8",
        name: "bad",
        codeHash: `0x${"00".repeat(32)}`,
        secrets: { LLM_BASE_URL: mock.baseUrl },
      },
    });
    sandboxes.push(s);
    const before = mock.requests.length;
    const res = await s.invoke({ method: "GET", url: "https://bad.agents.veil/", headers: [], body: null });
    assert.deepEqual(JSON.parse(new TextDecoder().decode(res.body)), { code: "LLM_BAD_REQUEST" });
    assert.equal(mock.requests.length, before);
  });
});
