// ctx.llm for agents: chat completions through the host (see src/sandbox/host-llm.ts), which holds
// the provider's API key, applies the egress policy, meters tokens and signs a receipt per call.
import type { LlmAnswer as Answer, LlmOp, LlmResultWire as Result } from "../bridge.ts";
import type { Host } from "./host.ts";

/** What ctx.llm throws: `code` says what went wrong (LLM_TIMEOUT, LLM_PROVIDER_ERROR, …). */
export class LlmError extends Error {
  readonly code: string;
  /** The provider's HTTP status, for LLM_PROVIDER_ERROR. */
  readonly status: number | undefined;
  constructor(code: string, message: string, status?: number) {
    super(message);
    this.name = "LlmError";
    this.code = code;
    this.status = status;
  }
}
// Its name as agents see it (the prelude is minified).
Object.defineProperty(LlmError, "name", { value: "LlmError", configurable: true });

/** The answer as agents see it: the message, its text, and tool calls with parsed arguments. */
function shape(r: Result) {
  return {
    ...r,
    content: r.message.content,
    toolCalls: (r.message.tool_calls ?? []).map((t) => ({
      id: t.id,
      name: t.function.name,
      arguments: JSON.parse(t.function.arguments || "{}") as unknown,
    })),
  };
}

function check(a: Answer): Exclude<Answer, { ok: false }> {
  if (!a.ok) throw new LlmError(a.code, a.message, a.status);
  return a;
}

/**
 * Makes one request's ctx.llm. Each call's signed receipt is also put in `receipts`, which the
 * dispatcher hands to the worker for the caller.
 */
export function makeLlm(hook: Host["llm"], receipts: unknown[]) {
  const host = async (op: LlmOp, arg: unknown) => check(await hook!(op, arg));
  const keep = (r: Result) => {
    if (r.receipt) receipts.push(r.receipt);
    return shape(r);
  };
  return Object.freeze({
    Error: LlmError,
    async chat(options: Record<string, unknown>) {
      if (!hook) throw new LlmError("LLM_NOT_AVAILABLE", "ctx.llm is not available to this agent");
      let plain: unknown;
      try {
        plain = JSON.parse(JSON.stringify(options ?? {}));
      } catch {
        throw new LlmError("LLM_BAD_REQUEST", "ctx.llm.chat: options must be plain JSON data");
      }
      const first = await host("chat", plain);
      if (first.kind !== "stream") return keep((first as { result: Result }).result);
      return llmStream(first.id, host, keep);
    },
  });
}

/**
 * A streamed answer: iterate it for deltas ({content}, {toolCalls}, {finishReason}) as they
 * arrive; `result()` gives the whole message, usage and receipt once it has ended. `text()`
 * is a ReadableStream-free helper: an async iterable of the text pieces only.
 */
function llmStream(
  id: number,
  host: (op: LlmOp, arg: unknown) => Promise<Exclude<Answer, { ok: false }>>,
  keep: (r: Result) => ReturnType<typeof shape>,
) {
  let final: ReturnType<typeof shape> | undefined;
  let failure: unknown;
  let ended = false;
  const next = async (): Promise<IteratorResult<Record<string, unknown>>> => {
    if (ended) return { done: true, value: undefined };
    let a: Exclude<Answer, { ok: false }>;
    try {
      a = await host("next", id);
    } catch (e) {
      ended = true;
      failure = e;
      throw e;
    }
    if (a.kind === "delta") return { done: false, value: a.delta };
    ended = true;
    final = keep((a as { result: Result }).result);
    return { done: true, value: undefined };
  };
  const iterator = {
    next,
    async return() {
      if (!ended) {
        ended = true;
        await host("cancel", id).catch(() => {});
      }
      return { done: true as const, value: undefined };
    },
    [Symbol.asyncIterator]() {
      return iterator;
    },
  };
  return {
    [Symbol.asyncIterator]: () => iterator,
    async *text() {
      for (let r = await next(); !r.done; r = await next()) {
        if (typeof r.value.content === "string") yield r.value.content;
      }
    },
    async result() {
      while (!ended) await next();
      if (failure) throw failure;
      return final!;
    },
  };
}
