import { randomBytes } from "node:crypto";
import type { AgentCall, AgentCallAnswer as BridgeAnswer, Refused } from "./bridge.ts";

// The host side of ctx.agents.call. The sandbox knows nothing about gateways or keys: the worker
// gives it an AgentCaller, and the sandbox keeps, per request in flight, the call context that
// request arrived with (who called, the chain of agents above it, the deadline). The agent holds
// only an opaque token for its request's context, so it cannot shorten the chain (to get round
// the depth limit or a cycle check) or stretch the deadline.

/** Where a request stands in a chain of agent-to-agent calls. */
export type CallContext = {
  /** The verified calling agent, when an agent made this request. */
  caller?: { agentId: string; address: string };
  /** Agent ids above this request, outermost first (the direct caller last). */
  chain: string[];
  /** When the whole call chain must be done (ms since the epoch); callees inherit it. */
  deadline?: number;
};

/** A call as the worker makes it: what the prelude sent (bridge.ts), checked here. */
export type AgentCallRequest = AgentCall;
export type AgentCallAnswer = BridgeAnswer;

/** What the worker provides: makes the call from `context` (the caller's own context). */
export type AgentCaller = (request: AgentCallRequest, context: CallContext) => Promise<AgentCallAnswer>;

/**
 * 16 random bytes as hex, cut from a pool refilled 4 KiB at a time: a token is made for every
 * request, and a call into the system's generator per request was 6% of a busy worker's CPU.
 * The bytes are the same CSPRNG output either way; each is handed out once.
 */
let pool = Buffer.alloc(0);
let offset = 0;
function randomToken(): string {
  if (offset + 16 > pool.length) {
    pool = randomBytes(4096);
    offset = 0;
  }
  const token = pool.toString("hex", offset, offset + 16);
  pool.fill(0, offset, offset + 16);
  offset += 16;
  return token;
}

/** Per-request call contexts of one sandbox, by token. */
export class CallContexts {
  readonly #byToken = new Map<string, CallContext>();

  open(context: CallContext): string {
    const token = randomToken();
    this.#byToken.set(token, context);
    return token;
  }

  close(token: string): void {
    this.#byToken.delete(token);
  }

  get(token: unknown): CallContext | undefined {
    return typeof token === "string" ? this.#byToken.get(token) : undefined;
  }
}

/** The isolate's hook: checks what the agent sends, then hands it to the worker's caller. */
export function agentsHook(caller: AgentCaller | undefined, contexts: CallContexts) {
  const fail = (code: string, message: string): Refused => ({ ok: false, code, message });
  return async (token: unknown, req: unknown): Promise<BridgeAnswer> => {
    if (!caller) return fail("AGENT_CALLS_UNAVAILABLE", "ctx.agents.call is not available on this host");
    const context = contexts.get(token);
    if (!context) return fail("AGENT_CALL_BAD_REQUEST", "ctx.agents.call was used after its request ended");
    const r = (req ?? {}) as Record<string, unknown>;
    if (typeof r.target !== "string" || !r.target)
      return fail("AGENT_CALL_BAD_REQUEST", "ctx.agents.call needs an agent name or id");
    const path = typeof r.path === "string" && r.path.startsWith("/") ? r.path : "/";
    const headers = Array.isArray(r.headers)
      ? r.headers
          .filter((h) => Array.isArray(h) && h.length === 2)
          .map(([k, v]) => [String(k).toLowerCase(), String(v)] as [string, string])
          // An agent cannot speak for Veil: caller identity and call chain are set by the host.
          .filter(([k]) => !k.startsWith("x-veil-"))
      : [];
    try {
      const answer = await caller(
        {
          target: r.target,
          method: typeof r.method === "string" ? r.method.toUpperCase() : "GET",
          path,
          headers,
          body: r.body instanceof ArrayBuffer ? r.body : null,
          ...(typeof r.timeoutMs === "number" && r.timeoutMs > 0 ? { timeoutMs: r.timeoutMs } : {}),
        },
        context,
      );
      return answer;
    } catch (err) {
      const e = err as { code?: unknown; message?: unknown };
      return fail(
        typeof e.code === "string" ? e.code : "AGENT_CALL_FAILED",
        typeof e.message === "string" ? e.message : "ctx.agents.call failed",
      );
    }
  };
}
