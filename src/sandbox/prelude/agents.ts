// ctx.agents.call and ctx.caller for agents: calls to other agents go through the host (see
// src/sandbox/host-agents.ts and src/worker/agent-calls.ts), sealed end to end to the callee and
// signed with this agent's key, so the callee knows for certain who called.
import type { Host } from "./host.ts";
import { Request, type RequestInit } from "./request.ts";
import { Response } from "./response.ts";
import { URL } from "./url.ts";

/** What ctx.agents.call throws: CALL_DEPTH_EXCEEDED, CALL_CYCLE, CALL_DEADLINE_EXCEEDED, … */
export class AgentCallError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = "AgentCallError";
    this.code = code;
  }
}
// Its name as agents see it (the prelude is minified).
Object.defineProperty(AgentCallError, "name", { value: "AgentCallError", configurable: true });

const NULL_BODY = new Set([101, 204, 205, 304]);

export function makeAgents(hook: Host["agents"], token: string) {
  return Object.freeze({
    Error: AgentCallError,
    /**
     * Calls another agent. `request` is a Request, a path ("/x"), or a RequestInit with a
     * `path`; `timeoutMs` sets a deadline the callee inherits (never later than this request's).
     */
    async call(
      nameOrId: string | number | bigint,
      request?: Request | string | (RequestInit & { path?: string; timeoutMs?: number }),
    ): Promise<Response> {
      if (!hook) throw new AgentCallError("AGENT_CALLS_UNAVAILABLE", "ctx.agents.call is not available");
      let req: Request;
      let timeoutMs: number | undefined;
      if (request instanceof Request) req = request;
      else if (typeof request === "string" || request === undefined)
        req = new Request(`https://agent.invalid${request ?? "/"}`);
      else {
        const { path, timeoutMs: t, ...init } = request;
        timeoutMs = t;
        req = new Request(`https://agent.invalid${path ?? "/"}`, init);
      }
      const url = new URL(req.url);
      const headers: [string, string][] = [];
      req.headers.forEach((v, k) => {
        headers.push([k, v]);
      });
      const body = req.method === "GET" || req.method === "HEAD" ? null : await req.arrayBuffer();
      const answer = await hook(token, {
        target: String(nameOrId),
        method: req.method,
        path: `${url.pathname}${url.search}`,
        headers,
        body,
        ...(timeoutMs ? { timeoutMs } : {}),
      });
      if (!answer.ok) throw new AgentCallError(answer.code, answer.message);
      const status = answer.status < 200 || answer.status > 599 ? 502 : answer.status;
      return new Response(NULL_BODY.has(status) ? null : answer.body, { status, headers: answer.headers });
    },
  });
}
