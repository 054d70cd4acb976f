import { isVeilErrorJSON, VeilError, type VeilErrorJSON } from "../errors/index.ts";
import type { AgentCallAnswer, AgentCallRequest, CallContext } from "./host-agents.ts";
import type { LlmReceipt, LlmReceiptFields } from "./host-llm.ts";
import type {
  AgentMeta,
  InvocationUsage,
  SandboxLimits,
  SandboxRequest,
  SandboxStreamEnd,
  SandboxTrigger,
} from "./types.ts";

// What crosses between a worker and a sandbox process (process-sandbox.ts, process-main.ts):
// Node's IPC channel with its structured-clone serialization, so bytes and bigints cross as they
// are. The process runs agents; everything that needs the worker (state, signing, calls to
// other agents, logs) is asked of the worker by message and answered by `reply`.

/** The host's services an agent in a sandbox process uses, asked of the worker by name. */
export type HostCall =
  | { op: "state.get"; args: [name: string] }
  | { op: "state.put"; args: [name: string, value: Uint8Array] }
  | { op: "state.delete"; args: [name: string] }
  | { op: "state.list"; args: [prefix: string, limit: number] }
  | { op: "state.read"; args: [name: string] }
  | { op: "state.commit"; args: [at: bigint | undefined, writes: [string, Uint8Array | undefined][]] }
  | { op: "llm.sign"; args: [fields: LlmReceiptFields] }
  | { op: "agents.call"; args: [request: AgentCallRequest, context: CallContext] };

export type HostCallResult = {
  "state.get": Uint8Array | undefined;
  "state.put": undefined;
  "state.delete": boolean;
  "state.list": string[];
  "state.read": { value: Uint8Array | undefined; at: bigint };
  "state.commit": boolean;
  "llm.sign": LlmReceipt;
  "agents.call": AgentCallAnswer;
};

/** An error as it crosses: a VeilError keeps its code, status, hint and retryability. */
export type WireError = { veil: VeilErrorJSON; status: number } | { message: string };

export type WireResponse = {
  status: number;
  headers: [string, string][];
  body: Uint8Array;
  usage: InvocationUsage;
  llmReceipts?: LlmReceipt[];
  /** The body comes as chunks, one per `pull`. */
  streamed: boolean;
};

export type WireStreamEnd = { usage: InvocationUsage; llmReceipts: LlmReceipt[]; error?: WireError };

/** The worker to the sandbox process. */
export type ToProcess =
  | {
      t: "create";
      sid: number;
      code: string;
      meta: AgentMeta;
      limits: SandboxLimits;
      secretKey?: Uint8Array;
      /** Which of the host's services the agent has (others stay undefined in the process too). */
      has: { state: boolean; stateTransactions: boolean; llmSigner: boolean; agentCaller: boolean };
    }
  | { t: "invoke"; sid: number; rid: number; request: SandboxRequest; trigger?: SandboxTrigger }
  | { t: "pull"; rid: number }
  | { t: "cancel"; rid: number }
  | { t: "dispose"; sid: number }
  | { t: "reply"; cid: number; ok: true; value: unknown }
  | { t: "reply"; cid: number; ok: false; error: WireError };

/** The sandbox process to the worker. */
export type FromProcess =
  | { t: "ready" }
  | { t: "created"; sid: number; error?: WireError }
  | { t: "answer"; rid: number; response: WireResponse }
  | { t: "failed"; rid: number; error: WireError }
  | { t: "chunk"; rid: number; bytes: Uint8Array }
  | { t: "chunks-ended"; rid: number; error?: WireError }
  | { t: "finished"; rid: number; end: WireStreamEnd }
  | ({ t: "call"; cid: number; sid: number } & HostCall)
  | { t: "log"; sid: number; level: string; message: string }
  | { t: "strike"; sid: number; reason: string };

export function toWire(err: unknown): WireError {
  if (err instanceof VeilError) return { veil: err.toJSON(), status: err.status };
  return { message: err instanceof Error ? err.message : String(err) };
}

export function fromWire(wire: WireError): Error {
  if ("veil" in wire && isVeilErrorJSON(wire.veil)) return VeilError.fromJSON(wire.veil, wire.status);
  return new Error("message" in wire ? wire.message : "the sandbox process failed");
}

export function endFromWire(end: WireStreamEnd): SandboxStreamEnd {
  return {
    usage: end.usage,
    llmReceipts: end.llmReceipts,
    ...(end.error ? { error: fromWire(end.error) } : {}),
  };
}
