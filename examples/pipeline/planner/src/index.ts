/**
 * The planner of the pipeline example: it works out a task step by step and has the tool
 * agent do each step through ctx.agents.call, which reaches the tool wherever it runs, sealed
 * end to end, with this agent's identity signed for the tool to check. The call chain's depth
 * is limited and cycles are refused; the tool inherits this request's deadline.
 *
 * Two ways to plan:
 *   POST /plan {"task": "…"}   an LLM plans (ctx.llm with a `calculator` tool); each tool call
 *                             it makes is run by the tool agent and the result fed back
 *   POST /plan {"steps": [{"op": "add", "a": 2, "b": 40}, {"op": "mul", "a": "$prev", "b": 3}]}
 *                             a plan given as is ("$prev" is the previous step's result)
 * → {"answer", "steps": [{"op", "a", "b", "result"}]}
 *
 * Secrets: TOOL_AGENT (the tool's name or id, default pipeline-tool); for planning with an
 * LLM, LLM_BASE_URL and LLM_API_KEY (and optionally LLM_MODEL), as ctx.llm expects.
 */

type Step = { op: string; a: unknown; b: unknown; result?: number };
type ToolCall = { id: string; name: string; arguments: unknown };
type ChatMessage = Record<string, unknown>;
type ChatResult = { content: string | null; message: ChatMessage; toolCalls: ToolCall[] };
type Ctx = {
  agents: {
    call(
      target: string,
      request: { path: string; method: string; body: string; timeoutMs?: number },
    ): Promise<Response>;
  };
  llm: { chat(o: Record<string, unknown>): Promise<ChatResult> };
};
type Env = { TOOL_AGENT?: string; LLM_MODEL?: string };

const MAX_STEPS = 8;
const CALCULATOR = {
  type: "function",
  function: {
    name: "calculator",
    description: "Does one arithmetic operation on two numbers",
    parameters: {
      type: "object",
      properties: {
        op: { type: "string", enum: ["add", "sub", "mul", "div"] },
        a: { type: "number" },
        b: { type: "number" },
      },
      required: ["op", "a", "b"],
    },
  },
};

class StepFailed extends Error {}

/** One step, done by the tool agent. */
async function run(ctx: Ctx, env: Env, step: Step): Promise<number> {
  const res = await ctx.agents.call(env.TOOL_AGENT ?? "pipeline-tool", {
    path: "/calc",
    method: "POST",
    body: JSON.stringify({ op: step.op, a: step.a, b: step.b }),
    timeoutMs: 5_000,
  });
  const out = (await res.json()) as { result?: number; error?: string };
  if (!res.ok || typeof out.result !== "number")
    throw new StepFailed(out.error ?? `the tool answered ${res.status}`);
  return out.result;
}

export default {
  async fetch(request: Request, env: Env, ctx: Ctx): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname !== "/plan" || request.method !== "POST")
      return Response.json({ error: "POST /plan" }, { status: 404 });
    let q: { task?: unknown; steps?: unknown };
    try {
      q = (await request.json()) as typeof q;
    } catch {
      return Response.json({ error: 'send JSON: {"task": "…"} or {"steps": […]}' }, { status: 400 });
    }
    const done: Step[] = [];
    try {
      if (Array.isArray(q.steps)) {
        if (q.steps.length === 0 || q.steps.length > MAX_STEPS)
          return Response.json({ error: `give 1–${MAX_STEPS} steps` }, { status: 400 });
        let prev: number | undefined;
        for (const s of q.steps as Step[]) {
          const step = { op: s.op, a: s.a === "$prev" ? prev : s.a, b: s.b === "$prev" ? prev : s.b };
          prev = await run(ctx, env, step);
          done.push({ ...step, result: prev });
        }
        return Response.json({ answer: prev, steps: done });
      }
      if (typeof q.task !== "string" || !q.task)
        return Response.json({ error: 'send {"task": "…"} or {"steps": […]}' }, { status: 400 });
      const messages: ChatMessage[] = [
        { role: "system", content: "Solve the task. Use the calculator tool for every arithmetic step." },
        { role: "user", content: q.task },
      ];
      for (let i = 0; i < MAX_STEPS; i++) {
        const r = await ctx.llm.chat({
          model: env.LLM_MODEL ?? "gpt-4o-mini",
          messages,
          tools: [CALCULATOR],
        });
        if (r.toolCalls.length === 0) return Response.json({ answer: r.content, steps: done });
        messages.push(r.message);
        for (const call of r.toolCalls) {
          const args = (call.arguments ?? {}) as { op?: unknown; a?: unknown; b?: unknown };
          const step = { op: String(args.op), a: args.a, b: args.b };
          const result = await run(ctx, env, step);
          done.push({ ...step, result });
          messages.push({ role: "tool", tool_call_id: call.id, content: JSON.stringify({ result }) });
        }
      }
      return Response.json({ error: `no answer within ${MAX_STEPS} rounds`, steps: done }, { status: 502 });
    } catch (e) {
      const err = e as Error & { code?: string };
      const status = e instanceof StepFailed ? 422 : 502;
      return Response.json({ error: err.message, code: err.code ?? null, steps: done }, { status });
    }
  },
};
