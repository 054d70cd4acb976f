import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { DEFAULT_EGRESS } from "../../src/sandbox/egress.ts";
import type { AgentCaller } from "../../src/sandbox/host-agents.ts";
import { IsolateSandbox } from "../../src/sandbox/isolate.ts";
import { buildAgent } from "../../src/sdk/build.ts";
import { type OpenAIMock, startOpenAIMock } from "../helpers/openai-mock.ts";

// examples/pipeline's two agents in real sandboxes. The planner's ctx.agents.call is carried
// to the tool as a worker carries it (see src/worker/agent-calls.ts): the tool gets the
// planner's verified identity and the call chain. The whole-network path (sealed, through the
// gateway) is in test/e2e/streaming.test.ts.
const PLANNER = { id: "31", address: `0x${"31".repeat(20)}` };
const TOOL_ID = "32";
let mock: OpenAIMock;
let planner: IsolateSandbox;
let tool: IsolateSandbox;
const calls: { target: string; chain: string[] }[] = [];

const toolCaller: AgentCaller = async (req, context) => {
  calls.push({ target: req.target, chain: context.chain });
  if (req.target !== "pipeline-tool" && req.target !== TOOL_ID)
    return { ok: false, code: "AGENT_NOT_FOUND", message: `There is no agent "${req.target}"` };
  const r = await tool.invoke({
    method: req.method,
    url: `https://pipeline-tool.agents.veil${req.path}`,
    headers: req.headers,
    body: req.body ? new Uint8Array(req.body) : null,
    call: {
      caller: { agentId: PLANNER.id, address: PLANNER.address },
      chain: [...context.chain, PLANNER.id],
    },
    caller: `agent:${PLANNER.id}`,
  });
  return {
    ok: true,
    status: r.status,
    headers: r.headers,
    body: r.body.buffer.slice(r.body.byteOffset, r.body.byteOffset + r.body.byteLength) as ArrayBuffer,
    calleeId: TOOL_ID,
  };
};

before(async () => {
  mock = await startOpenAIMock();
  const [p, t] = await Promise.all([
    buildAgent("examples/pipeline/planner"),
    buildAgent("examples/pipeline/tool"),
  ]);
  tool = await IsolateSandbox.create({
    code: t.code,
    meta: { id: TOOL_ID, name: "pipeline-tool", codeHash: t.hash },
  });
  planner = await IsolateSandbox.create({
    code: p.code,
    meta: {
      id: PLANNER.id,
      name: "pipeline-planner",
      codeHash: p.hash,
      secrets: { LLM_BASE_URL: mock.baseUrl },
    },
    limits: { egress: { ...DEFAULT_EGRESS, allowHosts: [new URL(mock.url).host] } },
    agentCaller: toolCaller,
  });
});
after(async () => {
  planner?.dispose();
  tool?.dispose();
  await mock?.close();
});

async function plan(body: unknown) {
  const r = await planner.invoke({
    method: "POST",
    url: "https://pipeline-planner.agents.veil/plan",
    headers: [["content-type", "application/json"]],
    body: new TextEncoder().encode(JSON.stringify(body)),
  });
  return { status: r.status, json: JSON.parse(new TextDecoder().decode(r.body)) };
}

describe("examples/pipeline", () => {
  test("the planner runs a given plan step by step on the tool agent", async () => {
    calls.length = 0;
    const r = await plan({
      steps: [
        { op: "add", a: 2, b: 40 },
        { op: "mul", a: "$prev", b: 3 },
      ],
    });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.equal(r.json.answer, 126);
    assert.deepEqual(
      r.json.steps.map((s: { result: number }) => s.result),
      [42, 126],
    );
    assert.equal(calls.length, 2);
  });

  test("an LLM plans: its tool calls are run by the tool agent and the results fed back", async () => {
    const r = await plan({ task: 'tool:calculator {"op":"sub","a":50,"b":8}' });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.deepEqual(r.json.steps, [{ op: "sub", a: 50, b: 8, result: 42 }]);
    // The mock answers what the tool result said: the result went back to the LLM.
    assert.equal(r.json.answer, 'tool said: {"result":42}');
    const fed = mock.requests.at(-1)!.body.messages.at(-1)!;
    assert.equal(fed.role, "tool");
    assert.equal(fed.tool_call_id, "call_1");
  });

  test("the tool sees who calls: direct callers and bad steps are refused", async () => {
    const direct = await tool.invoke({
      method: "POST",
      url: "https://pipeline-tool.agents.veil/calc",
      headers: [],
      body: new TextEncoder().encode('{"op":"add","a":1,"b":1}'),
    });
    assert.equal(direct.status, 403);
    const bad = await plan({ steps: [{ op: "div", a: 1, b: 0 }] });
    assert.equal(bad.status, 422);
    assert.equal(bad.json.error, "division by zero");
    assert.equal((await plan({ steps: [] })).status, 400);
    assert.equal((await plan({ nothing: true })).status, 400);
  });
});
