import { DEFAULT_EGRESS, type EgressPolicy } from "./egress.ts";
import type { CallContext } from "./host-agents.ts";
import type { LlmReceipt } from "./host-llm.ts";

/** A request as it crosses into a sandbox: plain data, copied, never shared. */
export type SandboxRequest = {
  method: string;
  url: string;
  headers: [string, string][];
  body: Uint8Array | null;
  /**
   * Who is calling, as the worker established it: requests of one caller share module-level
   * state, different callers never do (docs/adr/0009). A string names a caller (a verified
   * signer, a calling agent); `null` is a one-time caller whose realm is dropped after the
   * request (an end-to-end encrypted request); absent means the anonymous public.
   */
  caller?: string | null;
  /** Where this request stands in a chain of agent calls (see host-agents.ts). */
  call?: CallContext;
  /**
   * The caller can pass a body on as it is produced: a Response made from a ReadableStream then
   * comes back with `stream` set. Without it, a streamed body is collected first.
   */
  acceptStream?: boolean;
};

/**
 * How a streamed body ended: what the whole invocation used, its LLM calls' receipts, and the
 * error that cut it (the same one `chunks` threw), if one did.
 */
export type SandboxStreamEnd = { usage: InvocationUsage; llmReceipts: LlmReceipt[]; error?: unknown };

/** A response body the agent is still producing. */
export type SandboxStream = {
  /**
   * The body's chunks as the agent produces them (pulled one by one, so a slow reader slows the
   * agent). Throws a VeilError if the body ends badly: the agent's stream errored, or a limit
   * (wall time, CPU, LIMIT_RESPONSE_TOO_LARGE counted as a running total) cut it.
   */
  chunks: AsyncIterable<Uint8Array>;
  /** Resolves when the body has ended, was cut (with `error`) or was cancelled. */
  finished: Promise<SandboxStreamEnd>;
  /** Stops the agent's stream (the caller went away). */
  cancel(): void;
};

export type SandboxResponse = {
  status: number;
  headers: [string, string][];
  body: Uint8Array;
  usage: InvocationUsage;
  /** Signed receipts of the LLM calls the agent made for this request (see host-llm.ts). */
  llmReceipts?: LlmReceipt[];
  /**
   * Set when the agent answered with a stream and the request accepted one: `body` is then
   * empty, `usage` is so far, and the rest comes with the stream.
   */
  stream?: SandboxStream;
};

/**
 * What one invocation used. CPU time, egress and state bytes are read from the agent's
 * isolate and stores before and after, so requests of one agent running at the same time
 * share what they overlap in; heap is the isolate's used heap, read after the request or
 * sampled by a recent one (a synchronous read per request stalls the worker).
 */
export type InvocationUsage = {
  cpuUs: number;
  wallUs: number;
  heapBytes: number;
  egressBytes: number;
  stateBytes: number;
  /** Tokens of the agent's ctx.llm calls, as the providers reported them. */
  llmPromptTokens: number;
  llmCompletionTokens: number;
};

/** Per-agent limits, enforced by the sandbox. */
export type SandboxLimits = {
  /** Where and how much the agent may fetch. */
  egress: EgressPolicy;
  /** Heap limit of the agent's isolate, in MiB. */
  memoryMb: number;
  /** Wall time per request, in ms (the synchronous part is also cut at this). */
  wallTimeMs: number;
  /** Largest response body, in bytes. */
  maxResponseBytes: number;
  /** CPU time per request, in ms (time the agent's code runs, not time it waits). */
  cpuTimeMs: number;
  /** Requests one agent may have in flight; more are refused (retryable) at once. */
  maxConcurrent: number;
};

export const DEFAULT_LIMITS: SandboxLimits = {
  memoryMb: 128,
  wallTimeMs: 10_000,
  maxResponseBytes: 8 * 1024 * 1024,
  cpuTimeMs: 2_000,
  maxConcurrent: 64,
  egress: DEFAULT_EGRESS,
};

/** What the sandbox tells the agent about itself (`env.VEIL_AGENT_*`, `ctx.agent`). */
export type AgentMeta = {
  id: string;
  name: string;
  codeHash: string;
  /** The agent's EVM address (its certified signing key). */
  address?: string;
  /** Decrypted secrets, by name; they reach the agent as `env[name]` and nowhere else. */
  secrets?: Record<string, string>;
};

/**
 * Where an agent's `ctx.state` lives, as the host sees it: names and bytes (the prelude encodes
 * values). Implementations encrypt and enforce quotas; errors they throw reach the agent.
 */
export interface AgentStateBackend {
  get(name: string): Promise<Uint8Array | undefined>;
  put(name: string, value: Uint8Array): Promise<void>;
  delete(name: string): Promise<boolean>;
  list(prefix: string, limit: number): Promise<string[]>;
  /** A value and the agent's write counter it was read at (a transaction's read). */
  read?(name: string): Promise<{ value: Uint8Array | undefined; at: bigint }>;
  /**
   * A transaction's writes (undefined deletes), applied together only if nothing was written
   * since counter `at` (undefined: it read nothing). False when it must run again.
   */
  commit?(at: bigint | undefined, writes: readonly [string, Uint8Array | undefined][]): Promise<boolean>;
  /** Bytes written so far (for metering), when the backend counts them. */
  readonly bytesWritten?: number;
}

export type LogSink = (level: string, message: string) => void;

/** A call of a trigger handler instead of `fetch` (`onChainRequest` or `scheduled`), with its event as plain data. */
export type SandboxTrigger = { kind: "onChainRequest" | "scheduled"; event: Record<string, string> };

/** The engine an agent runs in; isolated-vm today, behind this interface. */
export interface Sandbox {
  /** With `trigger`, runs that handler; the response body is what it returned (bytes). */
  invoke(request: SandboxRequest, trigger?: SandboxTrigger): Promise<SandboxResponse>;
  dispose(): void;
}
