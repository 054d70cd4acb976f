import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { DEFAULT_EGRESS } from "../../src/sandbox/egress.ts";
import { IsolateSandbox } from "../../src/sandbox/isolate.ts";
import { type AgentContext, defineAgent } from "../../src/sdk/agent.ts";
import { buildAgent } from "../../src/sdk/build.ts";
import { repoRoot } from "../helpers/cli.ts";
import { type OpenAIMock, startOpenAIMock } from "../helpers/openai-mock.ts";

// The SDK's agent types describe what the sandbox gives: an agent written against them
// (type-checked with this file) builds, and streams an LLM answer back as server-sent events.
const handler = defineAgent({
  async fetch(request, env, ctx: AgentContext) {
    const q = new URL(request.url).searchParams.get("q") ?? "";
    const answer = await ctx.llm.chat({ model: "m", messages: [{ role: "user", content: q }], stream: true });
    const enc = new TextEncoder();
    return new Response(
      new ReadableStream({
        async start(c) {
          for await (const text of answer.text()) c.enqueue(enc.encode(`data: ${text}\n\n`));
          const r = await answer.result();
          c.enqueue(
            enc.encode(`data: [${r.usage.totalTokens}] ${env.VEIL_AGENT_NAME} ${ctx.caller === null}\n\n`),
          );
          c.close();
        },
      }),
      { headers: { "content-type": "text/event-stream" } },
    );
  },
});

let mock: OpenAIMock;
const dir = mkdtempSync(join(tmpdir(), "veil-types-"));
before(async () => {
  mock = await startOpenAIMock();
});
after(async () => {
  await mock.close();
  rmSync(dir, { recursive: true, force: true });
});

test("an agent typed with the SDK's AgentContext streams an LLM answer", async () => {
  assert.equal(typeof handler.fetch, "function");
  mkdirSync(join(dir, "src"));
  writeFileSync(
    join(dir, "src", "index.ts"),
    `import { defineAgent } from ${JSON.stringify(join(repoRoot, "src/sdk/agent.ts"))};
export default defineAgent({ async fetch(request, env, ctx) {
  const answer = await ctx.llm.chat({ model: "m", messages: [{ role: "user", content: "a b c" }], stream: true });
  return new Response(ReadableStream.from(answer.text()));
} });\n`,
  );
  const built = await buildAgent(dir);
  const s = await IsolateSandbox.create({
    code: built.code,
    meta: { id: "3", name: "typed", codeHash: built.hash, secrets: { LLM_BASE_URL: mock.baseUrl } },
    limits: { egress: { ...DEFAULT_EGRESS, allowHosts: [new URL(mock.url).host] } },
  });
  try {
    const r = await s.invoke({
      method: "GET",
      url: "https://typed.agents.veil/",
      headers: [],
      body: null,
      acceptStream: true,
    });
    let out = "";
    for await (const c of r.stream!.chunks) out += new TextDecoder().decode(c);
    assert.equal(out, "echo: a b c");
  } finally {
    s.dispose();
  }
});
