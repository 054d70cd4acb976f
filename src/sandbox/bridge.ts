// The one table of what crosses between the host and an agent's realm, both ways (ADR 0023).
// The host implements `HostOps` (isolate.ts `#hostOps`, checked against this table when it
// compiles) and hands every operation to the realm by its name; the prelude calls them through
// `Host` (prelude/host.ts) with these types. The realm answers the host through `RealmEntries`,
// which the prelude defines (prelude/dispatch.ts) and the host looks up by these names.
//
// Adding a host API: an entry in HostOps and HOST_OPS here, the host's function, the prelude's
// function that calls it, and its type in the SDK (src/sdk/agent.ts).
//
// Imported by the prelude, which is bundled for the isolate: types and plain data only.

/** A refusal from the host: `code` is a VeilError code or an egress/state code. */
export type Refused = { ok: false; code: string; message: string };

/** An outbound request as the prelude sends it to the host (egress.ts checks and sends it). */
export type FetchRequest = {
  url: string;
  method: string;
  headers: [string, string][];
  /** The whole body, or a stream the host pulls through the realm's `pull` entry (null: none). */
  body: ArrayBuffer | { stream: number } | null;
};

/**
 * An outbound answer: its head, and either the whole body (it had all arrived with the head) or a
 * stream the prelude reads with `fetchRead` as the bytes arrive.
 */
export type FetchAnswer =
  | ({ ok: true; status: number; statusText: string; headers: [string, string][]; url: string } & (
      | { body: ArrayBuffer }
      | { stream: number }
    ))
  | Refused;

/** One read of a streamed answer's body. */
export type FetchChunk = { ok: true; done: false; chunk: ArrayBuffer } | { ok: true; done: true } | Refused;

/**
 * A URL's parts as the host's WHATWG URL parser gives them, in this order: href, origin,
 * protocol, username, password, host, hostname, port, pathname, search, hash.
 */
export type UrlParts = [
  string,
  string,
  string,
  string,
  string,
  string,
  string,
  string,
  string,
  string,
  string,
];
/** The URL setters (`url.pathname = …`), applied by the host's parser. */
export type UrlField =
  | "href"
  | "protocol"
  | "username"
  | "password"
  | "host"
  | "hostname"
  | "port"
  | "pathname"
  | "search"
  | "hash";

/** CompressionStream/DecompressionStream formats (Compression standard). */
export type ZlibFormat = "gzip" | "deflate" | "deflate-raw";
/** Output of one chunk (or, for `null`, the end) of a compression stream. */
export type ZlibOutput = { ok: true; out: ArrayBuffer } | Refused;

export type StateOp = "get" | "put" | "delete" | "list" | "read" | "commit";
export type StateAnswer = { ok: true; value?: unknown } | Refused;

export type LlmOp = "chat" | "next" | "cancel";
/** ctx.llm's answers: see host-llm.ts for what each holds. */
export type LlmAnswer =
  | { ok: true; kind: "result" | "end"; result: LlmResultWire }
  | { ok: true; kind: "stream"; id: number }
  | { ok: true; kind: "delta"; delta: Record<string, unknown> }
  | (Refused & { status?: number });
export type LlmResultWire = {
  message: {
    role: "assistant";
    content: string | null;
    tool_calls?: { id: string; type: "function"; function: { name: string; arguments: string } }[];
  };
  finishReason: string | null;
  usage: { promptTokens: number; completionTokens: number; totalTokens: number };
  provider: string;
  model: string;
  receipt: Record<string, unknown> | undefined;
};

/** A call of another agent (ctx.agents.call), as the prelude sends it. */
export type AgentCall = {
  target: string;
  method: string;
  path: string;
  headers: [string, string][];
  body: ArrayBuffer | null;
  /** The deadline the caller asked for (ms from now); never later than an inherited one. */
  timeoutMs?: number;
};
export type AgentCallAnswer =
  | { ok: true; status: number; headers: [string, string][]; body: ArrayBuffer; calleeId: string }
  | Refused;

/** crypto.subtle's answers: a DOMException's name on failure, as the standard throws. */
export type SubtleAnswer = { ok: true; result: unknown } | { ok: false; name: string; message: string };

/**
 * What the realm may call on the host. Arguments are what the prelude sends; the host takes
 * them as `unknown` (see `HostImplementation`) because agent code can call the prelude's
 * functions with anything. A `Promise` result is an asynchronous operation (an isolated-vm
 * Reference applied with a promise); anything else is answered synchronously (a Callback).
 */
export interface HostOps {
  /** A line of the agent's log. */
  log(level: string, message: string): void;
  /** `n` random bytes from the host's CSPRNG (at most 65,536). */
  random(n: number): ArrayBuffer;
  digest(hash: string, data: ArrayBuffer): ArrayBuffer;
  hmac(hash: string, key: ArrayBuffer, data: ArrayBuffer): ArrayBuffer;
  /** Resolves after `ms`, `true`, or `false` when cleared or refused; `id` names it for cancelSleep. */
  sleep(ms: number, id: number): Promise<boolean>;
  cancelSleep(id: number): void;
  /** Parses `input` against `base` with the host's WHATWG URL parser; null when it is no URL. */
  urlParse(input: string, base?: string): UrlParts | null;
  /** Applies a setter to the URL `href`; null when the setter throws (only `href`'s does). */
  urlSet(href: string, field: UrlField, value: string): UrlParts | null;
  /**
   * Decodes bytes in a legacy encoding (Encoding standard) with the host's decoders (ICU). With
   * `stream` the decoder named `id` keeps a character split across calls until a call without it.
   */
  textDecode(
    encoding: string,
    bytes: ArrayBuffer,
    options: { fatal: boolean; ignoreBOM: boolean; id: number; stream: boolean },
  ): string | Refused;
  /** Opens a compression stream on the host's zlib: its id, or a refusal (too many open). */
  zlibOpen(format: ZlibFormat, mode: "compress" | "decompress"): number | Refused;
  /** Feeds a chunk (null: the end) and takes what came out. */
  zlibWrite(stream: number, chunk: ArrayBuffer | null): Promise<ZlibOutput>;
  zlibClose(stream: number): void;
  fetch(request: FetchRequest): Promise<FetchAnswer>;
  /** The next bytes of a streamed answer (`FetchAnswer.stream`), as they arrive. */
  fetchRead(stream: number): Promise<FetchChunk>;
  /** The agent no longer wants a streamed answer: the host stops the request. */
  fetchCancel(stream: number): void;
  /** ctx.state; `key` is the transaction's read counter for "commit". */
  state(op: StateOp, key: string, arg?: unknown): Promise<StateAnswer>;
  llm(op: LlmOp, arg: unknown): Promise<LlmAnswer>;
  agents(token: string, call: AgentCall): Promise<AgentCallAnswer>;
  subtle(op: string, args: unknown[]): Promise<SubtleAnswer>;
  /**
   * Phala's `Wapo.deriveSecret(salt)`: 64 bytes derived from the agent's own key and the salt,
   * the same for the same agent and salt, different for another agent; null where the host
   * holds no key for the agent (a local run).
   */
  deriveSecret(salt: ArrayBuffer): ArrayBuffer | null;
}

export type HostOpName = keyof HostOps;
type Kind<F> = F extends (...args: never[]) => Promise<unknown> ? "async" : "sync";

/** Every host operation and how it crosses; checked against HostOps when it compiles. */
export const HOST_OPS = {
  log: "sync",
  random: "sync",
  digest: "sync",
  hmac: "sync",
  sleep: "async",
  cancelSleep: "sync",
  urlParse: "sync",
  urlSet: "sync",
  textDecode: "sync",
  zlibOpen: "sync",
  zlibWrite: "async",
  zlibClose: "sync",
  fetch: "async",
  fetchRead: "async",
  fetchCancel: "sync",
  state: "async",
  llm: "async",
  agents: "async",
  subtle: "async",
  deriveSecret: "sync",
} as const satisfies { [K in HostOpName]: Kind<HostOps[K]> };

/** The host's side of an operation: any argument (the agent is hostile), the typed result. */
export type HostImplementation = {
  [K in HostOpName]: (...args: Unchecked<Parameters<HostOps[K]>>) => ReturnType<HostOps[K]>;
};
type Unchecked<T extends unknown[]> = { [I in keyof T]: unknown };

/** Plain values the realm is given with its host operations. */
export type RealmConfig = {
  /** The agent's memory limit, which bounds its WebAssembly memories (prelude/wasm.ts). */
  memoryMb: number;
};

/** A request as the host hands it to the realm. */
export type DispatchRequest = {
  seq?: number;
  method: string;
  url: string;
  headers: [string, string][];
  body: ArrayBuffer | null;
  callToken: string;
  caller: Record<string, unknown> | null;
  deadline: number | null;
};

/** What the realm knows of the agent for a request; `trigger` runs a trigger's handler instead. */
export type DispatchMeta = {
  id: string;
  name: string;
  codeHash: string;
  address?: string;
  secrets?: Record<string, string>;
  trigger?: { kind: "onChainRequest" | "scheduled"; event: unknown };
};

export type ErrorInfo = { name: string; message: string; stack?: string };

/** The realm's answer to a request. */
export type DispatchResult =
  | {
      ok: true;
      /** A number, or what a Response subclass's getter said, as text (the host checks it). */
      status: number | string;
      headers: [string, string][];
      /** The whole body, or (with `stream`) nothing yet: the host pulls it. */
      body?: ArrayBuffer;
      llmReceipts?: unknown[];
      stream?: number;
    }
  | { ok: false; kind: "threw" | "bad-response" | "bad-request"; error: ErrorInfo };

/** One pull of a streamed response body (`DispatchResult.stream`). */
export type PullResult =
  | { done: false; chunk: ArrayBuffer }
  | { done: true; llmReceipts?: unknown[]; error?: ErrorInfo };

export type Installed =
  | { ok: true; style: "fetch" | "phala"; handlers: string[] }
  | { ok: false; message: string };

/** What the host may call in a realm: the prelude installs them, the host takes and hides them. */
export interface RealmEntries {
  /**
   * Installs the agent module's default export. `secrets` become `process.env.secret` if it is
   * a Phala-style function (prelude/phala.ts); a fetch-style agent never sees them there.
   */
  setAgent(exported: unknown, secrets: Record<string, string>): Installed;
  /**
   * Before a Phala-built script runs (phat-fn's or the wapo runtime's, not an ES module): the
   * Phala guest globals, and a watch for the function the script hands `scriptArgs` to.
   */
  phalaBegin(secrets: Record<string, string>): void;
  /** After the script ran: installs its main function (from `apply` or `module.exports`). */
  phalaEnd(): Installed;
  dispatch(request: DispatchRequest, meta: DispatchMeta): Promise<DispatchResult>;
  /** Several requests in one crossing: answers ready soon, null for those collected by `await`. */
  dispatchMany(requests: DispatchRequest[], meta: DispatchMeta): Promise<(DispatchResult | null)[]>;
  await(seq: number): Promise<DispatchResult>;
  /** Settles when the realm's `ctx.waitUntil` work has. */
  idle(): Promise<void>;
  pull(stream: number): Promise<PullResult>;
  cancel(stream: number, reason?: string): void;
}

export const REALM_ENTRIES = [
  "setAgent",
  "phalaBegin",
  "phalaEnd",
  "dispatch",
  "dispatchMany",
  "await",
  "idle",
  "pull",
  "cancel",
] as const satisfies readonly (keyof RealmEntries)[];
// Every entry is listed (the host looks each up by name): a missing one fails to compile here.
const everyEntry: Exclude<keyof RealmEntries, (typeof REALM_ENTRIES)[number]> extends never ? true : never =
  true;
void everyEntry;

/** The one global the realm script leaves for the host, which reads and deletes it. */
export const ENTRIES_GLOBAL = "__veilEntries";
/** The one global the host leaves for the prelude, which reads and deletes it. */
export const HOST_GLOBAL = "__veilHost";
