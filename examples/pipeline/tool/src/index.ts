/**
 * The tool of the pipeline example: a calculator that only other agents may call. Veil tells
 * it who calls: `ctx.caller` is the calling agent's id and address, verified by the worker from
 * the caller's signature and the chain (null when a user or an app calls directly).
 *
 * Secret (optional): ALLOWED_CALLERS, comma-separated agent ids; when set, only they may call.
 *
 *   POST /calc {"op": "add" | "sub" | "mul" | "div", "a": number, "b": number} → {"result"}
 */

type Ctx = { caller: { agentId: string; address: string } | null };
type Env = { ALLOWED_CALLERS?: string };

const OPS: Record<string, (a: number, b: number) => number> = {
  add: (a, b) => a + b,
  sub: (a, b) => a - b,
  mul: (a, b) => a * b,
  div: (a, b) => a / b,
};

export default {
  async fetch(request: Request, env: Env, ctx: Ctx): Promise<Response> {
    if (!ctx.caller) return Response.json({ error: "only agents may call this tool" }, { status: 403 });
    const allowed = (env.ALLOWED_CALLERS ?? "")
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean);
    if (allowed.length > 0 && !allowed.includes(ctx.caller.agentId)) {
      return Response.json({ error: `agent ${ctx.caller.agentId} may not call this tool` }, { status: 403 });
    }
    const url = new URL(request.url);
    if (url.pathname !== "/calc" || request.method !== "POST")
      return Response.json({ error: "POST /calc" }, { status: 404 });
    let q: { op?: unknown; a?: unknown; b?: unknown };
    try {
      q = (await request.json()) as typeof q;
    } catch {
      return Response.json({ error: "send JSON" }, { status: 400 });
    }
    const op = typeof q.op === "string" ? OPS[q.op] : undefined;
    if (!op || typeof q.a !== "number" || typeof q.b !== "number")
      return Response.json(
        { error: 'send {"op": "add"|"sub"|"mul"|"div", "a": n, "b": n}' },
        { status: 400 },
      );
    if (q.op === "div" && q.b === 0) return Response.json({ error: "division by zero" }, { status: 400 });
    return Response.json({ result: op(q.a, q.b), caller: ctx.caller.agentId });
  },
};
