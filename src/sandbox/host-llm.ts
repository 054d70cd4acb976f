import { createHash } from "node:crypto";
import type { Egress, EgressStream } from "./egress.ts";

// The host side of ctx.llm: the agent names a model and messages; the host finds the provider in
// the agent's secrets, makes the OpenAI-compatible chat completions request (within the agent's
// egress policy), parses the answer, counts tokens and has the worker sign a receipt. The API key
// is read here and put on the request here: agent code never has to touch it.
//
// Providers, by secret name (set with `veil secrets set`):
//   LLM_BASE_URL, LLM_API_KEY                 the default provider, named "default"
//   LLM_<NAME>_BASE_URL, LLM_<NAME>_API_KEY   a provider named <name> (lower case), chosen with
//                                             ctx.llm.chat({ provider: "<name>", … })
// A base URL ends before /chat/completions (e.g. https://api.openai.com/v1). A key may be absent
// (a local server that wants none).

export type LlmProvider = { name: string; baseUrl: string; apiKey: string | undefined };

/** What an LLM call's receipt says; the worker signs it (chain/certificates.ts llmReceiptDigest). */
export type LlmReceiptFields = {
  agentId: string;
  provider: string;
  /** The provider's base URL, so a verifier knows whom the agent talked to. */
  baseUrl: string;
  model: string;
  /** sha256 of the exact request body sent to the provider. */
  requestHash: `0x${string}`;
  /** sha256 of the exact response body received (the whole event stream when streamed). */
  responseHash: `0x${string}`;
  promptTokens: number;
  completionTokens: number;
  /** When the answer was complete (ms since the epoch). */
  at: number;
};
export type LlmReceipt = LlmReceiptFields & { worker: `0x${string}`; signature: `0x${string}` };
export type LlmSigner = (fields: LlmReceiptFields) => Promise<LlmReceipt>;

export type LlmHostOptions = {
  agentId: string;
  secrets: Record<string, string>;
  egress: Egress;
  /** Signs receipts with the worker's identity; without it, calls get no receipt. */
  sign?: LlmSigner;
  /** Longest a call may take, start to last byte (a call may ask for less). */
  timeoutMs?: number;
};

/** The answer the prelude gets: plain data, copied into the isolate. */
export type LlmAnswer =
  | { ok: true; kind: "result"; result: LlmResult }
  | { ok: true; kind: "stream"; id: number }
  | { ok: true; kind: "delta"; delta: LlmDelta }
  | { ok: true; kind: "end"; result: LlmResult }
  | { ok: false; code: string; message: string; status?: number };

export type LlmToolCall = { id: string; type: "function"; function: { name: string; arguments: string } };
export type LlmResult = {
  message: { role: "assistant"; content: string | null; tool_calls?: LlmToolCall[] };
  finishReason: string | null;
  usage: { promptTokens: number; completionTokens: number; totalTokens: number };
  provider: string;
  model: string;
  receipt: LlmReceipt | undefined;
};
export type LlmDelta = {
  content?: string;
  toolCalls?: { index: number; id?: string; name?: string; arguments?: string }[];
  finishReason?: string;
};

class LlmFailure extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

export function llmProviders(secrets: Record<string, string>): Map<string, LlmProvider> {
  const out = new Map<string, LlmProvider>();
  for (const [key, value] of Object.entries(secrets)) {
    const m = /^LLM_(?:([A-Z0-9]+)_)?BASE_URL$/.exec(key);
    if (!m) continue;
    const prefix = m[1] ? `LLM_${m[1]}_` : "LLM_";
    const name = m[1] ? m[1].toLowerCase() : "default";
    out.set(name, { name, baseUrl: value.replace(/\/+$/, ""), apiKey: secrets[`${prefix}API_KEY`] });
  }
  return out;
}

const DEFAULT_TIMEOUT_MS = 60_000;
const MAX_STREAMS = 16;

type Stream = {
  queue: LlmAnswer[];
  waiting: ((a: LlmAnswer) => void) | undefined;
  finished: boolean;
  abort: () => void;
};

const sha256 = (b: Uint8Array | string): `0x${string}` => `0x${createHash("sha256").update(b).digest("hex")}`;

/** One per sandbox: it serves the agent's ctx.llm calls and meters their tokens. */
export class LlmHost {
  readonly #opts: LlmHostOptions;
  readonly #providers: Map<string, LlmProvider>;
  readonly #streams = new Map<number, Stream>();
  #nextId = 1;
  /** Tokens used so far, for metering (read before and after each invocation). */
  promptTokens = 0;
  completionTokens = 0;

  constructor(options: LlmHostOptions) {
    this.#opts = options;
    this.#providers = llmProviders(options.secrets);
  }

  /** The entry point the prelude calls: "chat" with the agent's options, or "next"/"cancel" a stream. */
  async call(op: unknown, arg: unknown): Promise<LlmAnswer> {
    try {
      if (op === "chat") return await this.#chat(arg);
      if (op === "next") return await this.#next(arg);
      if (op === "cancel") {
        const s = this.#streams.get(Number(arg));
        s?.abort();
        this.#streams.delete(Number(arg));
        return { ok: true, kind: "end", result: undefined as never };
      }
      throw new LlmFailure("LLM_BAD_REQUEST", "unknown ctx.llm operation");
    } catch (err) {
      if (err instanceof LlmFailure)
        return {
          ok: false,
          code: err.code,
          message: err.message,
          ...(err.status ? { status: err.status } : {}),
        };
      return { ok: false, code: "LLM_FAILED", message: `ctx.llm failed: ${(err as Error).message}` };
    }
  }

  /** Stops every stream (the sandbox is being thrown away). */
  dispose(): void {
    for (const s of this.#streams.values()) s.abort();
    this.#streams.clear();
  }

  #provider(name: unknown): LlmProvider {
    const wanted = typeof name === "string" && name ? name.toLowerCase() : "default";
    const p = this.#providers.get(wanted);
    if (!p) {
      const set = [...this.#providers.keys()];
      throw new LlmFailure(
        "LLM_NOT_CONFIGURED",
        `no LLM provider "${wanted}" is configured for this agent (${set.length ? `configured: ${set.join(", ")}` : "none is"}); its owner sets ${wanted === "default" ? "LLM_BASE_URL and LLM_API_KEY" : `LLM_${wanted.toUpperCase()}_BASE_URL and LLM_${wanted.toUpperCase()}_API_KEY`} with \`veil secrets set\``,
      );
    }
    return p;
  }

  async #chat(arg: unknown): Promise<LlmAnswer> {
    const a = (arg ?? {}) as Record<string, unknown>;
    if (typeof a.model !== "string" || !a.model)
      throw new LlmFailure("LLM_BAD_REQUEST", "ctx.llm.chat needs a model (a string)");
    if (!Array.isArray(a.messages) || a.messages.length === 0)
      throw new LlmFailure("LLM_BAD_REQUEST", "ctx.llm.chat needs messages (a non-empty array)");
    if (a.tools !== undefined && !Array.isArray(a.tools))
      throw new LlmFailure("LLM_BAD_REQUEST", "ctx.llm.chat: tools must be an array");
    const provider = this.#provider(a.provider);
    const stream = a.stream === true;
    const limit = this.#opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const timeoutMs =
      typeof a.timeoutMs === "number" && a.timeoutMs > 0 ? Math.min(a.timeoutMs, limit) : limit;
    // Only the fields of the chat completions API pass; the agent cannot set headers or the URL.
    const payload: Record<string, unknown> = { model: a.model, messages: a.messages };
    for (const k of [
      "tools",
      "tool_choice",
      "temperature",
      "top_p",
      "max_tokens",
      "stop",
      "seed",
      "response_format",
    ]) {
      if (a[k] !== undefined) payload[k] = a[k];
    }
    if (stream) {
      payload.stream = true;
      payload.stream_options = { include_usage: true };
    }
    const body = Buffer.from(JSON.stringify(payload));
    const requestHash = sha256(body);
    const headers: [string, string][] = [
      ["content-type", "application/json"],
      ["accept", stream ? "text/event-stream" : "application/json"],
    ];
    if (provider.apiKey) headers.push(["authorization", `Bearer ${provider.apiKey}`]);
    const opening = this.#opts.egress.open({
      url: `${provider.baseUrl}/chat/completions`,
      method: "POST",
      headers,
      body: body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength) as ArrayBuffer,
    });
    // The time limit covers waiting for the provider to start answering, too.
    let headerTimer: NodeJS.Timeout | undefined;
    const opened = await Promise.race([
      opening,
      new Promise<never>((_, reject) => {
        headerTimer = setTimeout(() => {
          opening.then((o) => o.ok && o.abort()).catch(() => {});
          reject(
            new LlmFailure("LLM_TIMEOUT", `ctx.llm: ${provider.name} did not answer within ${timeoutMs} ms`),
          );
        }, timeoutMs);
      }),
    ]).finally(() => clearTimeout(headerTimer));
    if (!opened.ok) {
      throw new LlmFailure(
        opened.code === "EGRESS_TIMEOUT" ? "LLM_TIMEOUT" : opened.code,
        `ctx.llm (${provider.name}): ${opened.message}`,
      );
    }
    const ctx = { provider, model: a.model, requestHash, timeoutMs };
    if (opened.status < 200 || opened.status > 299) {
      const text = await readAll(opened, timeoutMs).catch(() => Buffer.alloc(0));
      let detail = "";
      try {
        const e = JSON.parse(text.toString("utf8")) as { error?: { message?: unknown } };
        if (typeof e.error?.message === "string") detail = `: ${e.error.message.slice(0, 300)}`;
      } catch {}
      throw new LlmFailure(
        "LLM_PROVIDER_ERROR",
        `ctx.llm: ${provider.name} answered HTTP ${opened.status}${detail}`,
        opened.status,
      );
    }
    if (!stream) {
      const text = await readAll(opened, timeoutMs);
      return { ok: true, kind: "result", result: await this.#complete(ctx, text) };
    }
    if (this.#streams.size >= MAX_STREAMS) {
      opened.abort();
      throw new LlmFailure("LLM_TOO_MANY_STREAMS", `ctx.llm: more than ${MAX_STREAMS} streams open`);
    }
    const id = this.#nextId++;
    const s: Stream = { queue: [], waiting: undefined, finished: false, abort: opened.abort };
    this.#streams.set(id, s);
    this.#pump(id, s, opened, ctx).catch(() => {});
    return { ok: true, kind: "stream", id };
  }

  async #next(arg: unknown): Promise<LlmAnswer> {
    const s = this.#streams.get(Number(arg));
    if (!s) throw new LlmFailure("LLM_BAD_REQUEST", "ctx.llm: no such stream (already finished?)");
    const queued = s.queue.shift();
    const answer = queued ?? (await new Promise<LlmAnswer>((resolve) => (s.waiting = resolve)));
    if (answer.ok === false || answer.kind === "end") this.#streams.delete(Number(arg));
    return answer;
  }

  #push(s: Stream, a: LlmAnswer): void {
    if (s.finished) return;
    if (a.ok === false || a.kind === "end") s.finished = true;
    const w = s.waiting;
    if (w) {
      s.waiting = undefined;
      w(a);
    } else s.queue.push(a);
  }

  /** Reads the event stream, hands deltas on as they come, and builds the whole message. */
  async #pump(
    _id: number,
    s: Stream,
    opened: EgressStream,
    ctx: { provider: LlmProvider; model: string; requestHash: `0x${string}`; timeoutMs: number },
  ): Promise<void> {
    const hash = createHash("sha256");
    const timer = setTimeout(() => {
      opened.abort();
      this.#push(
        s,
        fail("LLM_TIMEOUT", `ctx.llm: ${ctx.provider.name} did not finish within ${ctx.timeoutMs} ms`),
      );
    }, ctx.timeoutMs);
    let content: string | null = null;
    const calls: LlmToolCall[] = [];
    let finishReason: string | null = null;
    let usage: Record<string, unknown> | undefined;
    let buffered = "";
    let done = false;
    try {
      const decoder = new TextDecoder();
      for await (const chunk of opened.body as AsyncIterable<Buffer>) {
        hash.update(chunk);
        buffered += decoder.decode(chunk, { stream: true });
        let cut = buffered.indexOf("\n");
        while (cut >= 0) {
          const line = buffered.slice(0, cut).replace(/\r$/, "");
          buffered = buffered.slice(cut + 1);
          cut = buffered.indexOf("\n");
          if (!line.startsWith("data:")) continue;
          const data = line.slice(5).trim();
          if (data === "[DONE]") {
            done = true;
            continue;
          }
          let event: {
            choices?: { delta?: Record<string, unknown>; finish_reason?: string | null }[];
            usage?: Record<string, unknown>;
          };
          try {
            event = JSON.parse(data);
          } catch {
            throw new LlmFailure(
              "LLM_MALFORMED_RESPONSE",
              `ctx.llm: ${ctx.provider.name} sent an event that is not JSON`,
            );
          }
          if (event.usage) usage = event.usage;
          const choice = event.choices?.[0];
          if (!choice) continue;
          const delta: LlmDelta = {};
          const d = choice.delta ?? {};
          if (typeof d.content === "string" && d.content) {
            content = (content ?? "") + d.content;
            delta.content = d.content;
          }
          if (Array.isArray(d.tool_calls)) {
            delta.toolCalls = [];
            for (const t of d.tool_calls as Record<string, unknown>[]) {
              const index = Number(t.index ?? 0);
              const fn = (t.function ?? {}) as Record<string, unknown>;
              if (!Number.isInteger(index) || index < 0 || index > 64)
                throw new LlmFailure("LLM_MALFORMED_RESPONSE", "ctx.llm: a tool call has a bad index");
              calls[index] ??= { id: "", type: "function", function: { name: "", arguments: "" } };
              const call = calls[index];
              if (typeof t.id === "string") call.id = t.id;
              if (typeof fn.name === "string") call.function.name += fn.name;
              if (typeof fn.arguments === "string") call.function.arguments += fn.arguments;
              delta.toolCalls.push({
                index,
                ...(typeof t.id === "string" ? { id: t.id } : {}),
                ...(typeof fn.name === "string" && fn.name ? { name: fn.name } : {}),
                ...(typeof fn.arguments === "string" ? { arguments: fn.arguments } : {}),
              });
            }
          }
          if (choice.finish_reason) {
            finishReason = choice.finish_reason;
            delta.finishReason = choice.finish_reason;
          }
          if (delta.content !== undefined || delta.toolCalls || delta.finishReason)
            this.#push(s, { ok: true, kind: "delta", delta });
        }
      }
      if (!done && finishReason === null)
        throw new LlmFailure("LLM_MALFORMED_RESPONSE", `ctx.llm: ${ctx.provider.name}'s stream ended early`);
      const result = await this.#finish(ctx, sha256Hex(hash), {
        message: {
          role: "assistant",
          content,
          ...(calls.length ? { tool_calls: calls.filter(Boolean) } : {}),
        },
        finishReason,
        usage,
      });
      this.#push(s, { ok: true, kind: "end", result });
    } catch (err) {
      this.#push(
        s,
        err instanceof LlmFailure
          ? fail(err.code, err.message)
          : fail(
              "LLM_PROVIDER_ERROR",
              `ctx.llm: the stream from ${ctx.provider.name} broke: ${(err as Error).message}`,
            ),
      );
    } finally {
      clearTimeout(timer);
    }
  }

  async #complete(
    ctx: { provider: LlmProvider; model: string; requestHash: `0x${string}` },
    text: Buffer,
  ): Promise<LlmResult> {
    let json: {
      choices?: { message?: Record<string, unknown>; finish_reason?: string | null }[];
      usage?: Record<string, unknown>;
    };
    try {
      json = JSON.parse(text.toString("utf8"));
    } catch {
      throw new LlmFailure("LLM_MALFORMED_RESPONSE", `ctx.llm: ${ctx.provider.name}'s answer is not JSON`);
    }
    const choice = json?.choices?.[0];
    const m = choice?.message;
    if (
      !m ||
      typeof m !== "object" ||
      (m.content !== null && m.content !== undefined && typeof m.content !== "string")
    ) {
      throw new LlmFailure("LLM_MALFORMED_RESPONSE", `ctx.llm: ${ctx.provider.name}'s answer has no message`);
    }
    const calls: LlmToolCall[] = [];
    if (m.tool_calls !== undefined) {
      if (!Array.isArray(m.tool_calls))
        throw new LlmFailure("LLM_MALFORMED_RESPONSE", "ctx.llm: tool_calls is not an array");
      for (const t of m.tool_calls as Record<string, unknown>[]) {
        const fn = t?.function as Record<string, unknown> | undefined;
        if (typeof t?.id !== "string" || typeof fn?.name !== "string" || typeof fn.arguments !== "string")
          throw new LlmFailure(
            "LLM_MALFORMED_RESPONSE",
            "ctx.llm: a tool call lacks its id, name or arguments",
          );
        calls.push({ id: t.id, type: "function", function: { name: fn.name, arguments: fn.arguments } });
      }
    }
    return this.#finish(ctx, sha256(text), {
      message: {
        role: "assistant",
        content: typeof m.content === "string" ? m.content : null,
        ...(calls.length ? { tool_calls: calls } : {}),
      },
      finishReason: choice?.finish_reason ?? null,
      usage: json.usage,
    });
  }

  async #finish(
    ctx: { provider: LlmProvider; model: string; requestHash: `0x${string}` },
    responseHash: `0x${string}`,
    r: {
      message: LlmResult["message"];
      finishReason: string | null;
      usage: Record<string, unknown> | undefined;
    },
  ): Promise<LlmResult> {
    for (const call of r.message.tool_calls ?? []) {
      try {
        JSON.parse(call.function.arguments || "{}");
      } catch {
        throw new LlmFailure(
          "LLM_MALFORMED_RESPONSE",
          `ctx.llm: the arguments of tool call ${call.function.name} are not JSON`,
        );
      }
    }
    const count = (v: unknown) => (Number.isSafeInteger(v) && (v as number) >= 0 ? (v as number) : 0);
    const promptTokens = count(r.usage?.prompt_tokens);
    const completionTokens = count(r.usage?.completion_tokens);
    this.promptTokens += promptTokens;
    this.completionTokens += completionTokens;
    const receipt = this.#opts.sign
      ? await this.#opts.sign({
          agentId: this.#opts.agentId,
          provider: ctx.provider.name,
          baseUrl: ctx.provider.baseUrl,
          model: ctx.model,
          requestHash: ctx.requestHash,
          responseHash,
          promptTokens,
          completionTokens,
          at: Date.now(),
        })
      : undefined;
    return {
      message: r.message,
      finishReason: r.finishReason,
      usage: { promptTokens, completionTokens, totalTokens: promptTokens + completionTokens },
      provider: ctx.provider.name,
      model: ctx.model,
      receipt,
    };
  }
}

const fail = (code: string, message: string): LlmAnswer => ({ ok: false, code, message });
const sha256Hex = (h: ReturnType<typeof createHash>): `0x${string}` => `0x${h.digest("hex")}`;

function readAll(opened: EgressStream, timeoutMs: number): Promise<Buffer> {
  const body = opened.body;
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      opened.abort();
      reject(new LlmFailure("LLM_TIMEOUT", `ctx.llm: no complete answer within ${timeoutMs} ms`));
    }, timeoutMs);
    body.on("data", (c: Buffer) => chunks.push(c));
    body.on("end", () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks));
    });
    body.on("error", (e: Error & { code?: string }) => {
      clearTimeout(timer);
      reject(
        new LlmFailure(
          e.code === "EGRESS_RESPONSE_TOO_LARGE" ? e.code : "LLM_PROVIDER_ERROR",
          `ctx.llm: the answer was cut off: ${e.message}`,
        ),
      );
    });
  });
}
