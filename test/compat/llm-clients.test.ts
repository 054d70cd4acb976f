import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { type AnthropicMock, startAnthropicMock } from "../helpers/anthropic-mock.ts";
import { type OpenAIMock, startOpenAIMock } from "../helpers/openai-mock.ts";
import { type CompatNetwork, startCompatNetwork } from "./deployed.ts";

// Issue 19: the LLM clients agents are written with, deployed unchanged on a real network
// (fixtures in test/compat/fixtures): the official OpenAI client (openai 6.49.0), the official
// Anthropic client (@anthropic-ai/sdk 1.17.0), and Vercel's AI SDK (ai 6.0.333 with
// @ai-sdk/openai 3.0.141) making a tool-calling round trip. The providers are local servers
// speaking each API (test/helpers), which the worker's operator allows agents to reach.

const OPENAI_KEY = "sk-compat-openai";
const ANTHROPIC_KEY = "sk-ant-compat";

describe("LLM clients inside deployed agents", { timeout: 300_000 }, () => {
  let net: CompatNetwork;
  let openai: OpenAIMock;
  let anthropic: AnthropicMock;

  before(async () => {
    openai = await startOpenAIMock({ apiKey: OPENAI_KEY });
    anthropic = await startAnthropicMock({ apiKey: ANTHROPIC_KEY });
    const openaiHost = new URL(openai.url).host;
    const anthropicHost = new URL(anthropic.url).host;
    net = await startCompatNetwork([openaiHost, anthropicHost]);
    await net.deploy("openai", [openaiHost]);
    await net.deploy("anthropic", [anthropicHost]);
    await net.deploy("ai-sdk", [openaiHost]);
  });
  after(async () => {
    await net?.stop();
    await openai?.close();
    await anthropic?.close();
  });

  const askOpenAI = (prompt: string, stream = false) =>
    net.call("openai", "/", { baseURL: openai.baseUrl, apiKey: OPENAI_KEY, prompt, stream });

  test("openai: chat.completions.create answers the completion and its usage", async () => {
    const r = await askOpenAI("what is veil");
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, {
      content: "echo: what is veil",
      finish: "stop",
      usage: { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 },
    });
    const sent = openai.requests.at(-1)!;
    assert.equal(sent.authorization, `Bearer ${OPENAI_KEY}`);
    assert.equal(sent.body.model, "gpt-4o-mini");
  });

  test("openai: stream: true yields the answer delta by delta from the provider's server-sent events", async () => {
    const r = await askOpenAI("stream these four words", true);
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, {
      deltas: ["echo: ", "stream ", "these ", "four ", "words"],
      content: "echo: stream these four words",
      finish: "stop",
    });
    assert.equal(openai.requests.at(-1)!.body.stream, true);
  });

  test("openai: a provider's error reaches the agent as the client's typed error", async () => {
    const r = await askOpenAI("error:503");
    assert.equal(r.status, 502);
    assert.deepEqual(r.json, { error: "503 The model is overloaded", status: 503, serverError: true });
  });

  test("anthropic: messages.create with stream: true yields Anthropic's events and the text deltas", async () => {
    const r = await net.call("anthropic", "/", {
      baseURL: anthropic.url,
      apiKey: ANTHROPIC_KEY,
      prompt: "hello from a deployed agent",
    });
    assert.equal(r.status, 200, r.text);
    const { events, content } = r.json as { events: string[]; content: string };
    assert.equal(content, "echo: hello from a deployed agent");
    assert.deepEqual(events, [
      "message_start",
      "content_block_start",
      ...Array(6).fill("content_block_delta"),
      "content_block_stop",
      "message_delta",
      "message_stop",
    ]);
    const sent = anthropic.requests.at(-1)!;
    assert.equal(sent.body.stream, true);
    assert.equal(sent.body.model, "claude-mock-1");
    assert.ok(sent.version, "the client sends anthropic-version");
  });

  test("anthropic: the messages.stream helper gives text events and the final message", async () => {
    const r = await net.call("anthropic", "/", {
      baseURL: anthropic.url,
      apiKey: ANTHROPIC_KEY,
      prompt: "two words",
      helper: true,
    });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, {
      texts: ["echo: ", "two ", "words"],
      content: "echo: two words",
      stop: "end_turn",
      usage: { input_tokens: 3, output_tokens: 3 },
    });
  });

  test("AI SDK: generateText calls the tool, sends its result back and answers from it", async () => {
    const before = openai.requests.length;
    const r = await net.call("ai-sdk", "/", {
      baseURL: openai.baseUrl,
      apiKey: OPENAI_KEY,
      prompt: 'tool:weather {"city":"Paris"}',
    });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, {
      text: 'tool said: {"city":"Paris","forecast":"sunny, 24C"}',
      steps: 2,
      toolCalls: [{ name: "weather", input: { city: "Paris" } }],
      toolResults: [{ city: "Paris", forecast: "sunny, 24C" }],
      finishReason: "stop",
    });
    // Two requests to the model: the tool's declaration, then the tool's result for call_1.
    const sent = openai.requests.slice(before);
    assert.equal(sent.length, 2);
    assert.equal((sent[0]!.body.tools as { function: { name: string } }[])[0]!.function.name, "weather");
    const toolMessage = sent[1]!.body.messages.find((m) => m.role === "tool");
    assert.equal(toolMessage?.tool_call_id, "call_1");
  });
});
