/**
 * Types for agent authors. An agent is an ES module whose default export has a web-standard
 * `fetch(request, env, ctx)`, as in Cloudflare Workers; Hono apps work as they are. A handler
 * may answer `new Response(readableStream)` to stream its body (server-sent events, say).
 */
export type AgentEnv = {
  readonly VEIL_AGENT_ID: string;
  readonly VEIL_AGENT_NAME: string;
  readonly VEIL_CODE_HASH: string;
  readonly VEIL_AGENT_ADDRESS: string;
  readonly [secret: string]: string;
};

/** A transaction's view of the agent's state (see AgentStateStore.transaction). */
export type AgentStateTransaction = {
  get(key: string): Promise<unknown>;
  /** Kept until the transaction's function returns, then written with its other writes. */
  put(key: string, value: unknown): void;
  delete(key: string): Promise<boolean>;
};

/**
 * The agent's own encrypted key-value store (JSON values or bytes), within its quota, shared
 * by every worker serving the agent: a read after an acknowledged write sees it, whichever
 * worker serves either. `put` replaces a value (the last writer wins); to change a value from
 * what it was, without losing another worker's change made meanwhile, use `transaction`.
 */
export type AgentStateStore = {
  get(key: string): Promise<unknown>;
  put(key: string, value: unknown): Promise<void>;
  delete(key: string): Promise<boolean>;
  list(options?: { prefix?: string; limit?: number }): Promise<string[]>;
  /**
   * Runs `fn` and commits its writes together, only if nothing was written to the agent's
   * state since `fn`'s reads; otherwise runs `fn` again on what is there now (up to 32
   * times, then STATE_CONFLICT). `fn` may run more than once: keep fetches and calls out of it.
   *
   * @example
   * const visits = await ctx.state.transaction(async (tx) => {
   *   const n = ((await tx.get("visits")) as number | undefined) ?? 0;
   *   tx.put("visits", n + 1);
   *   return n + 1;
   * });
   */
  transaction<T>(fn: (tx: AgentStateTransaction) => T | Promise<T>): Promise<T>;
};

export type LlmMessage =
  | { role: "system" | "user"; content: string }
  | { role: "assistant"; content: string | null; tool_calls?: LlmToolCallWire[] }
  | { role: "tool"; tool_call_id: string; content: string };
export type LlmToolCallWire = { id: string; type: "function"; function: { name: string; arguments: string } };

export type LlmChatOptions = {
  model: string;
  messages: LlmMessage[];
  /** A provider named in the agent's secrets (LLM_<NAME>_BASE_URL); default: LLM_BASE_URL. */
  provider?: string;
  tools?: { type: "function"; function: { name: string; description?: string; parameters?: object } }[];
  tool_choice?: unknown;
  temperature?: number;
  top_p?: number;
  max_tokens?: number;
  stop?: string | string[];
  seed?: number;
  response_format?: unknown;
  /** At most the agent's wall time. */
  timeoutMs?: number;
};

/** The worker-signed receipt of one LLM call (check it with `checkLlmReceipt`). */
export type LlmCallReceiptFields = {
  agentId: string;
  provider: string;
  baseUrl: string;
  model: string;
  requestHash: `0x${string}`;
  responseHash: `0x${string}`;
  promptTokens: number;
  completionTokens: number;
  at: number;
  worker: `0x${string}`;
  signature: `0x${string}`;
};

export type LlmChatResult = {
  content: string | null;
  /** Append it to `messages` to continue the conversation (tool calls included). */
  message: Extract<LlmMessage, { role: "assistant" }>;
  toolCalls: { id: string; name: string; arguments: unknown }[];
  finishReason: string | null;
  usage: { promptTokens: number; completionTokens: number; totalTokens: number };
  provider: string;
  model: string;
  receipt: LlmCallReceiptFields | undefined;
};

export type LlmDelta = {
  content?: string;
  toolCalls?: { index: number; id?: string; name?: string; arguments?: string }[];
  finishReason?: string;
};

/** A streamed answer: iterate its deltas as they arrive; `result()` once it has ended. */
export type LlmChatStream = AsyncIterable<LlmDelta> & {
  text(): AsyncIterable<string>;
  result(): Promise<LlmChatResult>;
};

/** What ctx.llm and ctx.agents throw: branch on `code`. */
export type CodedError = Error & { readonly code: string };

export type AgentLlm = {
  chat(options: LlmChatOptions & { stream: true }): Promise<LlmChatStream>;
  chat(options: LlmChatOptions & { stream?: false }): Promise<LlmChatResult>;
  readonly Error: new (...args: never[]) => CodedError & { readonly status: number | undefined };
};

export type AgentCalls = {
  /**
   * Calls another agent, sealed end to end, as this agent. `request` is a Request, a path, or a
   * RequestInit with a `path`; `timeoutMs` sets a deadline the callee inherits.
   */
  call(
    nameOrId: string | number | bigint,
    request?: Request | string | (RequestInit & { path?: string; timeoutMs?: number }),
  ): Promise<Response>;
  readonly Error: new (...args: never[]) => CodedError;
};

export type AgentContext = {
  readonly agent: {
    readonly id: string;
    readonly name: string;
    readonly codeHash: string;
    readonly address: string;
  };
  /** The calling agent, verified by the worker; null when a user or an app called. */
  readonly caller: { readonly agentId: string; readonly address: string } | null;
  /** When a calling agent's chain of calls must be done (ms since the epoch), or null. */
  readonly deadline: number | null;
  /** Undefined where the host gives the agent no state (a bare sandbox). */
  readonly state: AgentStateStore | undefined;
  readonly llm: AgentLlm;
  readonly agents: AgentCalls;
  /** Keeps work going after the response is sent. */
  waitUntil(promise: Promise<unknown>): void;
  passThroughOnException(): void;
};

export type AgentHandler = {
  fetch(request: Request, env: AgentEnv, ctx: AgentContext): Response | Promise<Response>;
};

/** Identity function that gives an agent's handler its types. */
export function defineAgent<T extends AgentHandler>(handler: T): T {
  return handler;
}
