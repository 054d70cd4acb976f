import { createHash, createHmac, hkdfSync, randomBytes } from "node:crypto";
import ivm from "isolated-vm";
import { VeilError } from "../errors/index.ts";
import { BackgroundBudget } from "./background.ts";
import type {
  FetchAnswer,
  Installed,
  DispatchResult as RealmAnswer,
  PullResult as RealmPull,
  Refused,
  StateAnswer,
} from "./bridge.ts";
import { Egress, type EgressRequest } from "./egress.ts";
import { type AgentCaller, agentsHook, CallContexts } from "./host-agents.ts";
import { type HostOperations, handOver, takeEntries } from "./host-bridge.ts";
import { subtleOperation } from "./host-crypto.ts";
import { OutboundFetches } from "./host-fetch.ts";
import { LlmHost, type LlmReceipt, type LlmSigner } from "./host-llm.ts";
import { textDecoders } from "./host-text.ts";
import { urlParse, urlSet } from "./host-url.ts";
import { ZlibStreams } from "./host-zlib.ts";
import { disposeAway, isGone } from "./isolate-threads.ts";
import { checkedAnswer } from "./response-check.ts";
import { SlotList } from "./slot-list.ts";
import { RunawayThrottle } from "./throttle.ts";
import {
  type AgentMeta,
  type AgentStateBackend,
  DEFAULT_LIMITS,
  type InvocationUsage,
  type LogSink,
  type Sandbox,
  type SandboxLimits,
  type SandboxRequest,
  type SandboxResponse,
  type SandboxStreamEnd,
  type SandboxTrigger,
} from "./types.ts";
import { noteIsolateWork, takeIsolate, type WarmIsolate } from "./warm-isolates.ts";

/** The realm's answers (bridge.ts), with the LLM receipts the host signed for them (host-llm.ts). */
type WithReceipts<T> = T extends { llmReceipts?: unknown[] }
  ? Omit<T, "llmReceipts"> & { llmReceipts?: LlmReceipt[] }
  : T;
type DispatchResult = WithReceipts<RealmAnswer>;
type PullResult = WithReceipts<RealmPull>;

function loadFailed(message: string, cause?: unknown): VeilError {
  return new VeilError("AGENT_LOAD_FAILED", `The agent's bundle could not be loaded: ${message}`, {
    status: 502,
    cause,
    hint: "Run the agent locally, fix the error, and deploy again.",
  });
}

/**
 * A script Phala's tools built, which is no ES module (ADR 0023): `phat-fn build` ends with
 * `….apply(null, globalThis.scriptArgs)`, the wapo runtime's bundles (tsup's IIFE) begin by
 * declaring the CommonJS `module` their main is left in.
 */
export function isPhalaScript(code: string): boolean {
  return (
    /^\s*var module\s*=\s*module\s*\|\|\s*\{\s*exports\s*:\s*\{\s*\}\s*\}/.test(code) ||
    /\.apply\(\s*null\s*,\s*globalThis\.scriptArgs\s*\)/.test(code)
  );
}

/** The HKDF info of `Wapo.deriveSecret` (its salt's SHA-256 follows): Veil's label for it. */
const DERIVE_SECRET_LABEL = Buffer.from("veil/v1/agent/wapo-derive-secret|");

/** Maps what isolated-vm throws when it cuts an agent off to the typed limit errors. */
function limitError(err: unknown, limits: SandboxLimits): VeilError | undefined {
  const message = err instanceof Error ? err.message : String(err);
  if (/memory limit/i.test(message)) {
    return new VeilError(
      "LIMIT_MEMORY_EXCEEDED",
      `The agent used more than its ${limits.memoryMb} MiB of memory`,
      {
        status: 507,
        hint: "Use less memory per request, or deploy with a higher memory limit.",
      },
    );
  }
  if (/CPU time limit exceeded/.test(message)) {
    return new VeilError(
      "LIMIT_CPU_EXCEEDED",
      `The agent used more than ${limits.cpuTimeMs} ms of CPU time`,
      {
        status: 504,
        hint: "Do less work per request, or deploy with a higher CPU limit.",
      },
    );
  }
  if (/timed out|Script execution timed out/i.test(message)) {
    return new VeilError("LIMIT_WALL_TIME_EXCEEDED", `The agent ran longer than ${limits.wallTimeMs} ms`, {
      status: 504,
      hint: "Make the handler finish sooner, or deploy with a higher time limit.",
    });
  }
  return undefined;
}

/**
 * Runs `cleanup` once the response's body is done: at once for a whole body or a failure,
 * when the stream has ended (or failed, or been cancelled) for a streamed one.
 */
async function afterBody(response: Promise<SandboxResponse>, cleanup: () => void): Promise<SandboxResponse> {
  let r: SandboxResponse;
  try {
    r = await response;
  } catch (err) {
    cleanup();
    throw err;
  }
  if (!r.stream) cleanup();
  else r.stream.finished.then(cleanup);
  return r;
}

/**
 * A request's limits while it runs: its wall-clock deadline, and the CPU its isolate may spend
 * from when it began (an isolate's CPU time is shared by the agent's concurrent requests: a
 * request is cut when the isolate has run more than the limit since it began).
 */
type Watched = {
  isolate: ivm.Isolate;
  deadline: number;
  cpuStart: bigint;
  cpuLimitNs: bigint;
  fail: (err: Error) => void;
  /** Past a request's deadline: the isolate is watched a little longer for code still running. */
  lingering?: boolean;
  /** Where it is in `watched`, while it is there. */
  slot?: number;
};
const watched = new SlotList<Watched>();
let limitSweep: NodeJS.Timeout | undefined;
/** How often running requests are checked against their limits. */
const LIMIT_SWEEP_MS = 10;
/** How long an isolate is watched for running code after a request's deadline passed. */
const LINGER_MS = 100;
/** Each watched isolate's CPU time at the last sweep, to tell running code from waiting. */
const lastCpu = new WeakMap<ivm.Isolate, { cpu: bigint; at: number }>();

function unwatch(w: Watched): void {
  watched.remove(w);
}

function watch(w: Watched): void {
  watched.add(w);
  limitSweep ??= setInterval(sweepLimits, LIMIT_SWEEP_MS);
}

/**
 * Watches a request's limits until the returned function is called. One timer checks every
 * running request in the process (two timers per request cost more than a hello-world handler
 * on the main thread). Asynchronous code (a loop of awaits) is caught by the CPU check, a
 * synchronous loop by it or the wall deadline, within 10 ms.
 *
 * The crossings into the isolate carry no isolated-vm time-out of their own: one that fires
 * abandons every promise the isolate owes the host, so one caller's deadline would fail the
 * agent's other requests in flight. Here a request past its deadline fails alone; only when the
 * isolate is running code then (a synchronous loop, whoever's) is the isolate disposed, which is
 * what stops such code.
 */
function watchLimits(w: Watched): () => void {
  watch(w);
  return () => unwatch(w);
}

/**
 * Isolates the host disposed of on purpose (a limit, a reset). isolated-vm disposes of one on
 * its own only when its heap limit is hit, so an isolate found disposed and not in here ran out
 * of memory: the request gets LIMIT_MEMORY_EXCEEDED, not "Promise was abandoned" (which is what
 * a host call waiting then, such as a fetch being read, sees).
 */
const disposedByHost = new WeakSet<ivm.Isolate>();
function disposeIsolate(isolate: ivm.Isolate): void {
  disposedByHost.add(isolate);
  noteIsolateWork();
  disposeAway(isolate);
}

function sweepLimits(): void {
  if (watched.length === 0) {
    clearInterval(limitSweep);
    limitSweep = undefined;
    return;
  }
  const now = Date.now();
  // Each isolate read once a sweep, however many of its requests are watched.
  const looks = new Map<ivm.Isolate, { cpu: bigint; busy: boolean }>();
  const look = (isolate: ivm.Isolate) => {
    let seen = looks.get(isolate);
    if (!seen) {
      const cpu = isolate.cpuTime;
      const before = lastCpu.get(isolate);
      lastCpu.set(isolate, { cpu, at: now });
      // Busy for at least half the time since the last look: code is running, not waiting.
      const busy =
        before !== undefined && now > before.at && Number(cpu - before.cpu) / 1e6 >= (now - before.at) / 2;
      seen = { cpu, busy };
      looks.set(isolate, seen);
    }
    return seen;
  };
  for (let i = watched.length - 1; i >= 0; i--) {
    const x = watched.items[i]!;
    if (isGone(x.isolate)) {
      if (x.lingering) unwatch(x);
      continue;
    }
    const { cpu, busy } = look(x.isolate);
    if (x.lingering) {
      if (busy) {
        unwatch(x);
        disposeIsolate(x.isolate);
      } else if (x.deadline <= now) unwatch(x);
    } else if (x.deadline <= now) {
      unwatch(x);
      x.fail(new Error("Script execution timed out."));
      if (busy) disposeIsolate(x.isolate);
      // Code that began just now shows as running at the next looks.
      else watch({ ...x, lingering: true, deadline: now + LINGER_MS, fail: () => {} });
    } else if (cpu - x.cpuStart > x.cpuLimitNs) {
      unwatch(x);
      x.fail(new Error("CPU time limit exceeded"));
      disposeIsolate(x.isolate);
    }
  }
}

/** A request waiting for its realm's next crossing into the isolate. */
type Queued = {
  request: { seq: number };
  resolve: (result: DispatchResult) => void;
  reject: (err: unknown) => void;
};
/** Names requests inside an isolate, for collecting those a batch did not answer. */
let nextSeq = 1;

/** How often a busy agent's heap is read for its usage receipts (see #heapBytes). */
const HEAP_SAMPLE_MS = 50;
/** How many callers' realms one agent keeps before the least recently used is dropped. */
const MAX_REALMS = 16;
/** Host timers one agent may have pending, across its realms (each realm holds one or a few). */
const MAX_HOST_TIMERS = 4096;
/** Host calls (state, fetch, llm, agents) one agent may have waiting at once. */
const MAX_PENDING_HOST_CALLS = 1024;
/** The partition of callers who do not say who they are. */
const PUBLIC = "public";

/** The handlers an agent's default export may have. */
export const AGENT_HANDLERS = ["fetch", "onChainRequest", "scheduled"] as const;
export type AgentHandler = (typeof AGENT_HANDLERS)[number];

/**
 * One caller's copy of the agent inside the agent's isolate: its own V8 context (globals,
 * prototypes, module-level variables), the prelude and the agent's module evaluated in it.
 * Callers never share a realm, so what one leaves in module state the next cannot read.
 */
type Realm = {
  context: ivm.Context;
  dispatch: ivm.Reference;
  /** Runs several requests in one crossing; `await` collects one that was not ready with it. */
  dispatchMany: ivm.Reference;
  await: ivm.Reference;
  /** Requests gathered for the next crossing (see #dispatch). */
  queue: Queued[];
  /** Pulls the next chunk of a streamed response body, by stream id. */
  pull: ivm.Reference;
  cancel: ivm.Reference;
  /** Resolves when the realm's `ctx.waitUntil` work has settled. */
  idle: ivm.Reference;
  inFlight: number;
  /** Outbound fetches the realm's requests in flight may still start. */
  fetchBudget: number;
  released: boolean;
  /** Handles into the context that keep it alive until released with it. */
  handles: { release(): void }[];
};

/**
 * One agent version in its own V8 isolate (isolated-vm): its own heap with a hard limit, the
 * web-standard prelude, and the agent's ES module, evaluated once per caller in that caller's
 * realm (docs/adr/0009). Requests cross in and out as copies. When a limit kills the isolate,
 * the next request gets a fresh one.
 */
export class IsolateSandbox implements Sandbox {
  readonly #code: string;
  readonly #meta: AgentMeta;
  /** The same for every request: serialized once, not per request. */
  readonly #metaCopy: ivm.ExternalCopy;
  readonly #limits: SandboxLimits;
  readonly #log: LogSink;
  #isolate: ivm.Isolate | undefined;
  /** The isolate being taken from the warm pool, then taken. */
  #warm: Promise<WarmIsolate> | undefined;
  /** Realms by caller, least recently used first. */
  readonly #realms = new Map<string, Promise<Realm>>();
  /** The caller whose realm is last in `#realms` (the most recently used), when known. */
  #lastCaller: string | undefined;
  /** A realm made ahead for the next one-time caller, once there has been one. */
  #spare: Promise<Realm> | undefined;
  /** Host timers the agent's isolate is waiting on; cleared when the isolate is thrown away. */
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #egress: Egress;
  /** The agent's outbound answers being read as they arrive (host-fetch.ts). */
  readonly #outbound: OutboundFetches;
  /** The agent's CompressionStreams and DecompressionStreams on the host's zlib. */
  readonly #zlib = new ZlibStreams();
  readonly #state: AgentStateBackend | undefined;
  /** The last time the state store refused a read as rolled back or altered. */
  #integrity: { error: VeilError; at: number } | undefined;
  readonly #llm: LlmHost;
  readonly #calls = new CallContexts();
  readonly #agentCaller: AgentCaller | undefined;
  /** The agent's key behind `Wapo.deriveSecret` (Phala-style agents), when the host holds one. */
  readonly #secretKey: Buffer | undefined;
  #inFlight = 0;
  /** Host calls made and not yet answered (see MAX_PENDING_HOST_CALLS). */
  #hostCalls = 0;
  #disposed = false;
  /** What the agent's default export handles, as its module showed at load. */
  #handlers: AgentHandler[] = [];
  /** CPU the isolate may spend with no request in flight (timers, waitUntil; background.ts). */
  readonly #background: BackgroundBudget;
  /** Holds the agent back after its limits stop it again and again (throttle.ts). */
  readonly #throttle = new RunawayThrottle();
  /** The last isolate a limit stopped: one stop is one strike, however many requests it failed. */
  #struck: ivm.Isolate | undefined;
  #onStrike: ((reason: string) => void) | undefined;
  /** CPU of the isolates this sandbox has thrown away, and of the current one when last read (ns). */
  #cpuOfGoneNs = 0n;
  #cpuOfCurrentNs = 0n;
  #heap: { isolate: ivm.Isolate | undefined; bytes: number; at: number; sampling: boolean } = {
    isolate: undefined,
    bytes: 0,
    at: 0,
    sampling: false,
  };

  private constructor(
    code: string,
    meta: AgentMeta,
    limits: SandboxLimits,
    log: LogSink,
    state: AgentStateBackend | undefined,
    llmSigner: LlmSigner | undefined,
    agentCaller: AgentCaller | undefined,
    secretKey: Uint8Array | undefined,
  ) {
    this.#agentCaller = agentCaller;
    this.#secretKey = secretKey ? Buffer.from(secretKey) : undefined;
    this.#state = state;
    this.#code = code;
    // LLM API keys stay on the host: ctx.llm puts them on requests; env never shows them.
    this.#meta = {
      ...meta,
      secrets: Object.fromEntries(
        Object.entries(meta.secrets ?? {}).filter(([k]) => !/^LLM_(?:[A-Z0-9]+_)?API_KEY$/.test(k)),
      ),
    };
    this.#metaCopy = new ivm.ExternalCopy(this.#meta);
    this.#limits = limits;
    this.#log = log;
    this.#egress = new Egress(limits.egress);
    this.#outbound = new OutboundFetches(this.#egress);
    this.#background = new BackgroundBudget({
      capacityMs: limits.cpuTimeMs,
      onExhausted: (isolate, usedMs) => {
        this.#log(
          "error",
          `LIMIT_BACKGROUND_CPU_EXCEEDED: work after the response (timers, ctx.waitUntil, promises) used ${Math.round(usedMs)} ms of CPU, over the ${limits.cpuTimeMs} ms a minute the agent may spend with no request in flight; its isolate was stopped and starts again on the next request`,
        );
        this.#strike(isolate, "LIMIT_BACKGROUND_CPU_EXCEEDED");
        this.#reset(isolate);
      },
    });
    this.#llm = new LlmHost({
      agentId: meta.id,
      secrets: meta.secrets ?? {},
      egress: this.#egress,
      timeoutMs: limits.wallTimeMs,
      ...(llmSigner ? { sign: llmSigner } : {}),
    });
  }

  /** Compiles and evaluates the agent; load errors surface here, before it serves anything. */
  static async create(options: {
    code: string;
    meta: AgentMeta;
    limits?: Partial<SandboxLimits>;
    log?: LogSink;
    /** The agent's `ctx.state`; without it, `ctx.state` is undefined. */
    state?: AgentStateBackend;
    /** Signs each ctx.llm call's receipt (the worker's identity); without it, no receipts. */
    llmSigner?: LlmSigner;
    /** Makes ctx.agents.call's calls (the worker's); without it, calls are refused. */
    agentCaller?: AgentCaller;
    /**
     * The agent's own key (32 bytes) that Phala's `Wapo.deriveSecret(salt)` derives from; without
     * it, deriveSecret throws.
     */
    secretKey?: Uint8Array;
    /** Told each time a limit stops the agent's code (one strike: see throttle.ts). */
    onStrike?: (reason: string) => void;
  }): Promise<IsolateSandbox> {
    const limits = { ...DEFAULT_LIMITS, ...options.limits };
    limits.egress = { ...DEFAULT_LIMITS.egress, ...limits.egress };
    const sandbox = new IsolateSandbox(
      options.code,
      options.meta,
      limits,
      options.log ?? (() => {}),
      options.state,
      options.llmSigner,
      options.agentCaller,
      options.secretKey,
    );
    sandbox.#onStrike = options.onStrike;
    await sandbox.#realmFor(PUBLIC);
    return sandbox;
  }

  /** The most bytes of outbound answers the host has held for the agent at once (tests, metrics). */
  get peakHeldFetchBytes(): number {
    return this.#outbound.peakHeldBytes;
  }

  /** Realms alive now (for tests and metrics). */
  get realmCount(): number {
    return this.#realms.size;
  }

  #ensureIsolate(): Promise<WarmIsolate> {
    if (this.#isolate && isGone(this.#isolate)) this.#reset(this.#isolate);
    if (!this.#warm) {
      const warm: Promise<WarmIsolate> = takeIsolate(this.#limits.memoryMb).then((w) => {
        if (this.#warm === warm) this.#isolate = w.isolate;
        return w;
      });
      this.#warm = warm;
      warm.catch(() => {
        if (this.#warm === warm) this.#warm = undefined;
      });
    }
    return this.#warm;
  }

  /**
   * The realm for a caller: a string names a caller, who keeps their realm across requests;
   * `null` is a one-time caller (an end-to-end encrypted request), who gets a realm of their own
   * that is dropped after the request.
   */
  #realmFor(caller: string | null): Promise<Realm> {
    if (caller === null) {
      const realm = this.#spare ?? this.#newRealm();
      this.#spare = undefined;
      return realm;
    }
    let realm = this.#realms.get(caller);
    if (realm) {
      // Least recently used goes first; moving the one just used to the end again would churn
      // the Map on every request of a single caller (and make V8 promote; see `watched`).
      if (caller !== this.#lastCaller) {
        this.#realms.delete(caller);
        this.#realms.set(caller, realm);
        this.#lastCaller = caller;
      }
      return realm;
    }
    realm = this.#newRealm();
    this.#realms.set(caller, realm);
    this.#lastCaller = caller;
    realm.catch(() => {
      if (this.#realms.get(caller) === realm) this.#realms.delete(caller);
    });
    while (this.#realms.size > MAX_REALMS) {
      const [oldest, dropped] = this.#realms.entries().next().value as [string, Promise<Realm>];
      this.#realms.delete(oldest);
      dropped.then(
        (r) => this.#releaseWhenIdle(r),
        () => {},
      );
    }
    return realm;
  }

  async #newRealm(): Promise<Realm> {
    const { isolate, realmScript } = await this.#ensureIsolate();
    // Making a realm is the host's work (a spare is made with nothing in flight): not background.
    this.#background.begin(isolate);
    try {
      return await this.#loadRealm(isolate, realmScript);
    } finally {
      this.#background.end(isolate);
    }
  }

  async #loadRealm(isolate: ivm.Isolate, realmScript: ivm.Script): Promise<Realm> {
    let context: ivm.Context | undefined;
    try {
      context = await isolate.createContext();
      const realm = {
        context,
        inFlight: 0,
        fetchBudget: 0,
        released: false,
        handles: [],
      } as unknown as Realm;
      await handOver(context, this.#hostOps(realm), { memoryMb: this.#limits.memoryMb });
      await realmScript.run(context, { timeout: 1000 });
      const entries = await takeEntries(context);
      realm.dispatch = entries.dispatch;
      realm.idle = entries.idle;
      realm.pull = entries.pull;
      realm.cancel = entries.cancel;
      realm.dispatchMany = entries.dispatchMany;
      realm.await = entries.await;
      realm.queue = [];
      realm.handles.push(...(Object.values(entries) as ivm.Reference[]));
      const setAgent = entries.setAgent;

      const secrets = new ivm.ExternalCopy(this.#meta.secrets ?? {});
      let installed: Installed;
      try {
        installed = isPhalaScript(this.#code)
          ? await this.#runPhalaScript(isolate, context, realm, entries.phalaBegin, entries.phalaEnd, secrets)
          : await this.#evaluateModule(isolate, context, realm, setAgent, secrets);
      } finally {
        secrets.release();
      }
      if (!installed.ok) throw loadFailed(installed.message);
      this.#handlers = installed.handlers.filter((h): h is AgentHandler =>
        (AGENT_HANDLERS as readonly string[]).includes(h),
      );
      if (this.#heap.isolate !== isolate) await this.#readHeap(isolate);
      return realm;
    } catch (err) {
      if (err instanceof VeilError && err.code === "AGENT_LOAD_FAILED") {
        context?.release();
      } else {
        // Whatever else went wrong (a limit while loading) may have left the isolate unusable.
        this.#reset(isolate);
      }
      if (err instanceof VeilError) throw err;
      throw limitError(err, this.#limits) ?? loadFailed((err as Error).message, err);
    }
  }

  /** Compiles and evaluates the agent's ES module in the realm, and installs its default export. */
  async #evaluateModule(
    isolate: ivm.Isolate,
    context: ivm.Context,
    realm: Realm,
    setAgent: ivm.Reference,
    secrets: ivm.ExternalCopy,
  ): Promise<Installed> {
    let module: ivm.Module;
    try {
      module = await isolate.compileModule(this.#code, { filename: `agent:${this.#meta.name}` });
    } catch (err) {
      throw loadFailed(`syntax error: ${(err as Error).message}`, err);
    }
    if (module.dependencySpecifiers.length > 0) {
      throw loadFailed(
        `it imports ${module.dependencySpecifiers.map((s) => `"${s}"`).join(", ")}; bundles must be self-contained (veil deploy bundles them)`,
      );
    }
    await module.instantiate(context, () => {
      throw new Error("imports are not allowed");
    });
    try {
      await module.evaluate({ timeout: this.#limits.wallTimeMs });
    } catch (err) {
      throw (
        limitError(err, this.#limits) ?? loadFailed(`it threw while loading: ${(err as Error).message}`, err)
      );
    }
    realm.handles.push(module);
    const exported = (await module.namespace.get("default", { reference: true })) as ivm.Reference;
    realm.handles.push(exported);
    return (await setAgent.apply(undefined, [exported.derefInto(), secrets.copyInto()], {
      result: { copy: true },
      timeout: 1000,
    })) as Installed;
  }

  /**
   * Runs a script Phala's tools built (`isPhalaScript`) as a classic script in the realm, with
   * Phala's guest globals, and installs the main function it hands its input to (ADR 0023).
   */
  async #runPhalaScript(
    isolate: ivm.Isolate,
    context: ivm.Context,
    realm: Realm,
    begin: ivm.Reference,
    end: ivm.Reference,
    secrets: ivm.ExternalCopy,
  ): Promise<Installed> {
    let script: ivm.Script;
    try {
      script = await isolate.compileScript(this.#code, { filename: `agent:${this.#meta.name}` });
    } catch (err) {
      throw loadFailed(`syntax error: ${(err as Error).message}`, err);
    }
    realm.handles.push(script);
    let ended: Installed | undefined;
    await begin.apply(undefined, [secrets.copyInto()], { timeout: 1000 });
    try {
      await script.run(context, { timeout: this.#limits.wallTimeMs });
    } catch (err) {
      throw (
        limitError(err, this.#limits) ?? loadFailed(`it threw while loading: ${(err as Error).message}`, err)
      );
    } finally {
      await end.apply(undefined, [], { result: { copy: true }, timeout: 1000 }).then(
        (installed) => {
          ended = installed as Installed;
        },
        () => {},
      );
    }
    return ended ?? { ok: false, message: "the Phala-built script could not be installed" };
  }

  /** Drops a realm once its requests and their `ctx.waitUntil` work are done. */
  #releaseWhenIdle(realm: Realm): void {
    if (realm.released || realm.inFlight > 0) return;
    realm.released = true;
    // Waited for from the host, not with an isolated-vm time-out (which would abandon what the
    // isolate owes other requests; see `watchLimits`): work past the wall time is dropped.
    let timer: NodeJS.Timeout | undefined;
    Promise.race([
      realm.idle.apply(undefined, [], { result: { promise: true } }),
      new Promise((resolve) => {
        timer = setTimeout(resolve, this.#limits.wallTimeMs);
      }),
    ])
      .catch(() => {})
      .finally(() => {
        clearTimeout(timer);
        // Every handle into the context goes with it: a Reference left behind keeps the whole
        // context (globals, module) alive in the isolate's heap, until one-time realms fill it.
        for (const h of realm.handles) {
          try {
            h.release();
          } catch {
            // Already gone with the isolate.
          }
        }
        try {
          realm.context.release();
        } catch {
          // The isolate is already gone.
        }
      });
  }

  /**
   * What the prelude may call on the host (bridge.ts HostOps). Everything that crosses is
   * copied, and each operation checks its input: the agent is hostile.
   */
  #hostOps(realm: Realm): HostOperations {
    const log = this.#log;
    const timers = this.#timers;
    // What the host hands the isolate with no request in flight runs on the background budget.
    const wake = () => this.#background.wake(this.#isolate);
    // Calls the agent has made and not yet had answered (state, fetch, llm, agents): each holds
    // host memory until it settles, so a loop that never awaits them is refused past the cap.
    // Refused with an answer, never a rejection: a host promise that rejects before isolated-vm
    // takes it is an unhandled rejection, which ends a Node process.
    const waking =
      <A extends unknown[], R>(f: (...args: A) => Promise<R>) =>
      async (...args: A): Promise<R> => {
        if (this.#hostCalls >= MAX_PENDING_HOST_CALLS) return tooManyHostCalls() as R;
        this.#hostCalls++;
        try {
          return await f(...args);
        } finally {
          this.#hostCalls--;
          wake();
        }
      };
    // This realm's sleeps by the prelude's timer id, so clearTimeout clears them here too.
    const sleeping = new Map<unknown, { t: NodeJS.Timeout; resolve: (fired: boolean) => void }>();
    const outbound = this.#outbound;
    const zlib = this.#zlib;
    const maxFetches = this.#limits.egress.maxFetchesPerRequest;
    const buffer = (b: Buffer): ArrayBuffer =>
      b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
    const bytes = (v: unknown): Buffer => {
      if (!(v instanceof ArrayBuffer)) throw new TypeError("expected an ArrayBuffer");
      return Buffer.from(v);
    };
    const HASHES = new Set(["sha1", "sha256", "sha384", "sha512"]);
    const hash = (h: unknown): string => {
      if (typeof h !== "string" || !HASHES.has(h)) throw new TypeError("unsupported hash");
      return h;
    };
    return {
      log: (level, message) => log(String(level), String(message)),
      random: (n) => {
        if (!Number.isInteger(n) || (n as number) < 0 || (n as number) > 65536)
          throw new RangeError("bad length");
        return buffer(randomBytes(n as number));
      },
      digest: (alg, data) => buffer(createHash(hash(alg)).update(bytes(data)).digest()),
      hmac: (alg, key, data) => buffer(createHmac(hash(alg), bytes(key)).update(bytes(data)).digest()),
      sleep: (ms, id) => {
        // Answered "not fired" (the prelude drops the timer), never a rejection (see `waking`).
        if (timers.size >= MAX_HOST_TIMERS) return Promise.resolve(false);
        return new Promise<boolean>((resolve) => {
          const t = setTimeout(
            () => {
              timers.delete(t);
              sleeping.delete(id);
              wake();
              resolve(true);
            },
            Math.min(Math.max(0, Number(ms) || 0), 86_400_000),
          );
          timers.add(t);
          if (typeof id === "number") sleeping.set(id, { t, resolve });
        });
      },
      cancelSleep: (id) => {
        const s = sleeping.get(id);
        if (!s) return;
        sleeping.delete(id);
        clearTimeout(s.t);
        timers.delete(s.t);
        s.resolve(false);
      },
      urlParse,
      urlSet,
      textDecode: textDecoders(),
      zlibOpen: (format, mode) => zlib.open(format, mode),
      zlibWrite: waking((id: unknown, chunk: unknown) => zlib.write(id, chunk)),
      zlibClose: (id) => zlib.close(id),
      fetch: waking(async (req: unknown): Promise<FetchAnswer> => {
        if (realm.fetchBudget <= 0) {
          return {
            ok: false,
            code: "EGRESS_TOO_MANY_FETCHES",
            message: `fetch: more than ${maxFetches} outbound requests in one invocation`,
          };
        }
        realm.fetchBudget--;
        const r = req as Partial<EgressRequest> | null;
        const headers = Array.isArray(r?.headers)
          ? r.headers
              .filter((h) => Array.isArray(h) && h.length === 2)
              .map(([k, v]) => [String(k), String(v)] as [string, string])
          : [];
        const streamed = r?.body as { stream?: unknown } | null | undefined;
        const id = typeof streamed?.stream === "number" ? streamed.stream : undefined;
        return outbound.fetch({
          url: String(r?.url),
          method: typeof r?.method === "string" ? r.method : "GET",
          headers,
          body: r?.body instanceof ArrayBuffer ? r.body : null,
          // A body the agent produces as it goes: pulled out of the realm chunk by chunk.
          ...(id === undefined
            ? {}
            : {
                bodyStream: async () => {
                  const got = (await realm.pull.apply(undefined, [id], {
                    result: { promise: true, copy: true },
                  })) as PullResult;
                  if (!got.done) return new Uint8Array(got.chunk);
                  if (got.error) throw new Error(`${got.error.name}: ${got.error.message}`);
                  return null;
                },
              }),
        });
      }),
      fetchRead: waking((id: unknown) => outbound.read(id)),
      fetchCancel: (id) => outbound.cancel(id),
      state: this.#state
        ? waking(
            stateHook(this.#state, (error) => {
              this.#integrity = { error, at: Date.now() };
            }),
          )
        : undefined,
      llm: waking((op: unknown, arg: unknown) => this.#llm.call(op, arg)),
      agents: waking(agentsHook(this.#agentCaller, this.#calls)),
      subtle: waking((op: unknown, args: unknown) => subtleOperation(op, args)),
      deriveSecret: (salt) => {
        if (!this.#secretKey) return null;
        const s = bytes(salt);
        if (s.byteLength > 65536) throw new RangeError("Wapo.deriveSecret: the salt is over 64 KiB");
        const info = Buffer.concat([DERIVE_SECRET_LABEL, createHash("sha256").update(s).digest()]);
        return hkdfSync("sha256", this.#secretKey, Buffer.alloc(0), info, 64) as ArrayBuffer;
      },
    };
  }

  /** The handlers the agent's default export has (`fetch`, `onChainRequest`, `scheduled`). */
  get handlers(): readonly AgentHandler[] {
    return this.#handlers;
  }

  async invoke(request: SandboxRequest, trigger?: SandboxTrigger): Promise<SandboxResponse> {
    if (this.#disposed) {
      throw new VeilError("AGENT_NOT_READY", `Agent ${this.#meta.name} is being reloaded`, {
        status: 503,
        retryable: true,
        hint: "Retry in a moment.",
      });
    }
    const held = this.#throttle.remainingMs();
    if (held > 0) {
      throw new VeilError(
        "AGENT_THROTTLED",
        `Agent ${this.#meta.name} was stopped by its limits ${this.#throttle.strikes} time(s) in a row (last: ${this.#throttle.lastReason}); it runs again in ${held} ms`,
        {
          status: 503,
          retryable: true,
          hint: "See `veil logs` for what stopped it; fix the agent, or deploy it with higher limits.",
        },
      );
    }
    if (this.#inFlight >= this.#limits.maxConcurrent) {
      throw new VeilError(
        "LIMIT_CONCURRENCY_EXCEEDED",
        `The agent already has ${this.#limits.maxConcurrent} requests in flight`,
        { status: 429, retryable: true, hint: "Retry shortly, or deploy with a higher concurrency limit." },
      );
    }
    const deadline = request.call?.deadline;
    if (deadline !== undefined && deadline <= Date.now()) {
      throw new VeilError("CALL_DEADLINE_EXCEEDED", "The calling agent's deadline has passed", {
        status: 504,
        hint: "The caller gave this call too little time; give it a later deadline.",
      });
    }
    this.#inFlight++;
    const token = this.#calls.open(request.call ?? { chain: [] });
    return afterBody(this.#invoke(request, token, trigger), () => {
      this.#calls.close(token);
      this.#inFlight--;
      if (this.#disposed && this.#inFlight === 0) this.#teardown();
    });
  }

  #invoke(
    request: SandboxRequest,
    callToken: string,
    trigger?: SandboxTrigger,
    again = false,
  ): Promise<SandboxResponse> {
    const oneTime = request.caller === null;
    return this.#realmFor(oneTime ? null : (request.caller ?? PUBLIC)).then((realm) => {
      const isolate = this.#isolate;
      if (!isolate || isGone(isolate)) {
        // The isolate was thrown away between finding the realm and running in it (its
        // background work ran out of budget): this request gets the next isolate.
        if (again) throw new VeilError("AGENT_CRASHED", "The agent's sandbox failed", { status: 502 });
        return this.#invoke(request, callToken, trigger, true);
      }
      realm.inFlight++;
      realm.fetchBudget += this.#limits.egress.maxFetchesPerRequest;
      this.#background.begin(isolate);
      return afterBody(this.#run(isolate, realm, request, callToken, trigger), () => {
        this.#background.end(isolate);
        realm.inFlight--;
        // A request's unspent fetches do not carry over to the next one.
        realm.fetchBudget = Math.min(
          realm.fetchBudget,
          realm.inFlight * this.#limits.egress.maxFetchesPerRequest,
        );
        if (oneTime) {
          this.#releaseWhenIdle(realm);
          this.#makeSpare();
        }
      });
    });
  }

  /**
   * What a limit or a broken sandbox becomes; a runaway agent's isolate is thrown away. A request
   * past its wall time while the isolate was waiting (on the host, a timer) fails alone: the
   * isolate goes when it was running code then (`sweepLimits` disposed it) or broke another limit.
   * A wall time `wallTimeMs` cut short by a calling agent's deadline is that deadline's error.
   */
  #failure(err: unknown, isolate: ivm.Isolate, wallTimeMs: number): VeilError {
    if (err instanceof VeilError) return err;
    const limit =
      limitError(err, this.#limits) ??
      (isolate.isDisposed && !disposedByHost.has(isolate)
        ? limitError(new Error("memory limit"), this.#limits)
        : undefined);
    // The owner reads why a request stopped in its logs, after whatever the agent printed before.
    if (limit && !(limit.code === "LIMIT_WALL_TIME_EXCEEDED" && wallTimeMs < this.#limits.wallTimeMs))
      this.#log("error", `${limit.code}: ${limit.shortMessage}; the request was stopped`);
    if (isGone(isolate) || (limit && limit.code !== "LIMIT_WALL_TIME_EXCEEDED")) {
      if (!this.#disposed) this.#strike(isolate, limit?.code ?? "AGENT_CRASHED");
      this.#reset(isolate);
    }
    if (limit?.code === "LIMIT_WALL_TIME_EXCEEDED" && wallTimeMs < this.#limits.wallTimeMs) {
      return new VeilError(
        "CALL_DEADLINE_EXCEEDED",
        `The call ran past the calling agent's deadline (${Math.round(wallTimeMs)} ms from its start)`,
        { status: 504, hint: "The caller gave this call too little time; give it a later deadline." },
      );
    }
    return limit ?? new VeilError("AGENT_CRASHED", "The agent's sandbox failed", { status: 502, cause: err });
  }

  #agentFailed(kind: "threw" | "bad-response", error: { name: string; message: string; stack?: string }) {
    this.#log("error", error.stack ?? `${error.name}: ${error.message}`);
    // The state store refused a read as rolled back or altered (seen here, on the host, not
    // claimed by the agent) and the agent let it through: the caller gets the store's own code.
    const integrity = this.#integrity;
    if (kind === "threw" && integrity && Date.now() - integrity.at < INTEGRITY_WINDOW_MS) {
      return new VeilError(integrity.error.code, integrity.error.shortMessage, {
        status: 500,
        hint:
          integrity.error.hint ??
          "The worker's storage was altered or put back; its operator must restore it.",
      });
    }
    return new VeilError(
      kind === "bad-response" ? "AGENT_BAD_RESPONSE" : "AGENT_THREW",
      kind === "bad-response"
        ? `The agent's fetch handler did not return a Response: ${error.message}`
        : `The agent threw: ${error.name}: ${error.message}`,
      {
        status: kind === "bad-response" ? 502 : 500,
        hint: "See `veil logs` for the stack, fix the agent and deploy again.",
      },
    );
  }

  #tooLarge(bytes: number): VeilError {
    return new VeilError(
      "LIMIT_RESPONSE_TOO_LARGE",
      `The agent's response is ${bytes} bytes, over its ${this.#limits.maxResponseBytes}`,
      { status: 502, hint: "Return a smaller body." },
    );
  }

  /**
   * Encrypted callers come in runs: make the next one's realm once this request has answered.
   * Not while it runs: the isolate does one thing at a time, so building a realm then would
   * hold up the very request it runs beside (bench/keys.ts measured 1.5 ms of it).
   */
  #makeSpare(): void {
    setImmediate(() => {
      if (this.#spare || this.#disposed || !this.#isolate || isGone(this.#isolate)) return;
      this.#spare = this.#newRealm();
      this.#spare.catch(() => {
        this.#spare = undefined;
      });
    });
  }

  /**
   * Runs a request in its realm. Requests that reach the sandbox in the same turn of the event
   * loop (the gateway's link delivers them a dozen at a time) cross into the isolate together:
   * one crossing costs ~15 µs of CPU, a batch of 8 ~2.5 µs a request (ADR 0015).
   */
  #dispatch(realm: Realm, request: { seq: number }): Promise<DispatchResult> {
    return new Promise((resolve, reject) => {
      realm.queue.push({ request, resolve, reject });
      // At the end of this turn of the event loop: after every request it brought (from many
      // HTTP connections, or a link's frames) is queued.
      if (realm.queue.length === 1) setImmediate(() => this.#cross(realm));
    });
  }

  #cross(realm: Realm): void {
    const batch = realm.queue;
    realm.queue = [];
    try {
      this.#crossNow(realm, batch);
    } catch (err) {
      // The isolate went away since these were queued (a limit, an unload): they fail as the
      // call itself would have.
      for (const q of batch) q.reject(err);
    }
  }

  #crossNow(realm: Realm, batch: Queued[]): void {
    const meta = this.#metaCopy.copyInto();
    if (batch.length === 1) {
      const [only] = batch as [Queued];
      realm.dispatch
        .apply(undefined, [new ivm.ExternalCopy(only.request).copyInto({ release: true }), meta], {
          result: { promise: true, copy: true },
        })
        .then((r) => only.resolve(r as DispatchResult), only.reject);
      return;
    }
    realm.dispatchMany
      .apply(
        undefined,
        [new ivm.ExternalCopy(batch.map((q) => q.request)).copyInto({ release: true }), meta],
        {
          result: { promise: true, copy: true },
        },
      )
      .then(
        (answers) => {
          batch.forEach((q, i) => {
            const answer = (answers as (DispatchResult | null)[])[i];
            if (answer) q.resolve(answer);
            else
              realm.await
                .apply(undefined, [q.request.seq], {
                  result: { promise: true, copy: true },
                })
                .then((r) => q.resolve(r as DispatchResult), q.reject);
          });
        },
        (err: unknown) => {
          for (const q of batch) q.reject(err);
        },
      );
  }

  async #run(
    isolate: ivm.Isolate,
    realm: Realm,
    request: SandboxRequest,
    callToken: string,
    trigger: SandboxTrigger | undefined,
  ): Promise<SandboxResponse> {
    const body = request.body ? new Uint8Array(request.body).buffer : null;
    // A caller's deadline shortens this request's wall time; it never lengthens it.
    const wallTimeMs = Math.max(
      1,
      Math.min(this.#limits.wallTimeMs, (request.call?.deadline ?? Number.POSITIVE_INFINITY) - Date.now()),
    );
    const startedAt = process.hrtime.bigint();
    const cpuAtStart = isolate.cpuTime;
    const egressAtStart = this.#egress.bytes;
    const stateAtStart = this.#state?.bytesWritten ?? 0;
    const promptAtStart = this.#llm.promptTokens;
    const completionAtStart = this.#llm.completionTokens;
    // The limits hold until the body has ended, for a streamed body too.
    let stopWatching!: () => void;
    const wall = new Promise<never>((_, reject) => {
      stopWatching = watchLimits({
        isolate,
        deadline: Date.now() + wallTimeMs,
        cpuStart: cpuAtStart,
        cpuLimitNs: BigInt(this.#limits.cpuTimeMs) * 1_000_000n,
        fail: reject,
      });
    });
    wall.catch(() => {});
    const usage = (): InvocationUsage => ({
      cpuUs: isGone(isolate) ? 0 : Number((isolate.cpuTime - cpuAtStart) / 1000n),
      wallUs: Number((process.hrtime.bigint() - startedAt) / 1000n),
      heapBytes: this.#heapBytes(isolate),
      egressBytes: this.#egress.bytes - egressAtStart,
      stateBytes: (this.#state?.bytesWritten ?? 0) - stateAtStart,
      llmPromptTokens: this.#llm.promptTokens - promptAtStart,
      llmCompletionTokens: this.#llm.completionTokens - completionAtStart,
    });
    let result: DispatchResult;
    try {
      const copied = {
        seq: nextSeq++,
        method: request.method,
        url: request.url,
        headers: request.headers,
        body,
        callToken,
        caller: request.call?.caller ?? null,
        deadline: request.call?.deadline ?? null,
      };
      result = (await Promise.race([
        trigger
          ? realm.dispatch.apply(
              undefined,
              [
                new ivm.ExternalCopy(copied).copyInto({ release: true }),
                new ivm.ExternalCopy({ ...this.#meta, trigger }).copyInto({ release: true }),
              ],
              { result: { promise: true, copy: true } },
            )
          : this.#dispatch(realm, copied),
        wall,
      ])) as DispatchResult;
    } catch (err) {
      stopWatching();
      throw this.#failure(err, isolate, wallTimeMs);
    }
    if (!result.ok) {
      stopWatching();
      if (result.kind === "bad-request") {
        throw new VeilError(
          "REQUEST_INVALID",
          `The request is not a valid web request: ${result.error.message}`,
          {
            status: 400,
            hint: "Send header names that are tokens and values without control characters.",
          },
        );
      }
      throw this.#agentFailed(result.kind, result.error);
    }
    let answer: { status: number; headers: [string, string][] };
    try {
      answer = checkedAnswer(result.status, result.headers);
    } catch (err) {
      stopWatching();
      if (result.stream !== undefined && !isGone(isolate)) {
        realm.cancel.apply(undefined, [result.stream, "bad response"], { timeout: 1000 }).catch(() => {});
      }
      this.#log("error", (err as VeilError).message);
      throw err;
    }
    if (result.stream === undefined) {
      stopWatching();
      const bytes = result.body ?? new ArrayBuffer(0);
      if (bytes.byteLength > this.#limits.maxResponseBytes) throw this.#tooLarge(bytes.byteLength);
      return {
        status: answer.status,
        headers: answer.headers,
        body: new Uint8Array(bytes),
        usage: usage(),
        llmReceipts: Array.isArray(result.llmReceipts) ? result.llmReceipts : [],
      };
    }
    const streamId = result.stream;
    const cancelInIsolate = () => {
      if (isGone(isolate)) return;
      realm.cancel.apply(undefined, [streamId, "cancelled by the host"], { timeout: 1000 }).catch(() => {});
    };
    let total = 0;
    let llmReceipts: LlmReceipt[] = [];
    // The next chunk, or null at the end; the response size limit is a running total.
    const pull = async (): Promise<Uint8Array | null> => {
      let r: PullResult;
      try {
        r = (await Promise.race([
          realm.pull.apply(undefined, [streamId], { result: { promise: true, copy: true } }),
          wall,
        ])) as PullResult;
      } catch (err) {
        // Past the wall time with the isolate kept, the agent was waiting (on its source, or on a
        // slow reader), not running away: this stream stops, the agent's other requests go on.
        cancelInIsolate();
        throw this.#failure(err, isolate, wallTimeMs);
      }
      if (r.done) {
        if (r.error) throw this.#agentFailed("threw", r.error);
        llmReceipts = Array.isArray(r.llmReceipts) ? r.llmReceipts : [];
        return null;
      }
      total += r.chunk.byteLength;
      if (total > this.#limits.maxResponseBytes) {
        cancelInIsolate();
        throw this.#tooLarge(total);
      }
      return new Uint8Array(r.chunk);
    };
    if (!request.acceptStream) {
      // The caller wants the whole body (an encrypted answer, a trigger, an agent's call).
      const parts: Uint8Array[] = [];
      try {
        for (let c = await pull(); c; c = await pull()) parts.push(c);
      } finally {
        stopWatching();
      }
      return {
        status: answer.status,
        headers: answer.headers,
        body: new Uint8Array(Buffer.concat(parts)),
        usage: usage(),
        llmReceipts,
      };
    }
    let settle!: (v: SandboxStreamEnd) => void;
    const finished = new Promise<SandboxStreamEnd>((resolve) => {
      settle = resolve;
    });
    let over = false;
    const end = (error?: unknown) => {
      if (over) return;
      over = true;
      stopWatching();
      settle({ usage: usage(), llmReceipts, ...(error ? { error } : {}) });
    };
    async function* chunks(): AsyncGenerator<Uint8Array> {
      try {
        for (let c = await pull(); c; c = await pull()) if (c.byteLength > 0) yield c;
        end();
      } catch (err) {
        end(err);
        throw err;
      } finally {
        // The consumer stopped early (the caller went away): stop the agent's stream too.
        if (!over) {
          cancelInIsolate();
          end();
        }
      }
    }
    return {
      status: answer.status,
      headers: answer.headers,
      body: new Uint8Array(0),
      usage: usage(),
      stream: {
        chunks: chunks(),
        finished,
        cancel: () => {
          if (over) return;
          cancelInIsolate();
          end();
        },
      },
    };
  }

  /**
   * The isolate's used heap for a usage receipt. A synchronous read locks the isolate: while
   * another request of the agent runs (a slow one), it would stall this whole thread, every
   * agent on the worker with it. So the heap is read asynchronously when a realm loads and then
   * sampled in the background at most every HEAP_SAMPLE_MS: a receipt names the heap as of its
   * own request or one at most that much older.
   */
  #heapBytes(isolate: ivm.Isolate): number {
    if (isGone(isolate) || this.#heap.isolate !== isolate) return 0;
    const heap = this.#heap;
    if (!heap.sampling && Date.now() - heap.at >= HEAP_SAMPLE_MS) {
      heap.sampling = true;
      this.#readHeap(isolate).finally(() => {
        heap.sampling = false;
      });
    }
    return heap.bytes;
  }

  async #readHeap(isolate: ivm.Isolate): Promise<void> {
    try {
      const { used_heap_size, externally_allocated_size } = await isolate.getHeapStatistics();
      if (this.#heap.isolate !== isolate) this.#heap = { isolate, bytes: 0, at: 0, sampling: false };
      // Array buffers and wasm memories' reserves count too: they are the agent's as much as its heap.
      this.#heap.bytes = used_heap_size + externally_allocated_size;
      this.#heap.at = Date.now();
    } catch {
      // The isolate went away; the next one is read when it loads.
    }
  }

  /** A limit stopped `isolate`: one strike for the agent, whatever number of requests it failed. */
  #strike(isolate: ivm.Isolate, reason: string): void {
    if (this.#struck === isolate) return;
    this.#struck = isolate;
    const pause = this.#throttle.strike(reason);
    this.#onStrike?.(reason);
    if (this.#throttle.strikes > 1) {
      this.#log(
        "error",
        `AGENT_THROTTLED: stopped by ${reason} ${this.#throttle.strikes} times in a row; held back ${pause} ms`,
      );
    }
  }

  /** CPU the agent's code has used in this sandbox, all its isolates together (µs). */
  get cpuUsedUs(): number {
    const isolate = this.#isolate;
    if (isolate && !isGone(isolate)) {
      try {
        this.#cpuOfCurrentNs = isolate.cpuTime;
      } catch {
        // Disposed of meanwhile: its time as last read counts.
      }
    }
    return Number((this.#cpuOfGoneNs + this.#cpuOfCurrentNs) / 1000n);
  }

  /** Throws the isolate away with every realm in it; the next request starts a new one. */
  #reset(isolate: ivm.Isolate): void {
    if (this.#isolate === isolate) {
      // An isolate being stopped is not asked anything more: its time as last read counts.
      this.#cpuOfGoneNs += this.#cpuOfCurrentNs;
      this.#cpuOfCurrentNs = 0n;
      for (const t of this.#timers) clearTimeout(t);
      this.#timers.clear();
      // Answers being read by realms that are gone: nobody will read them now.
      this.#outbound.closeAll();
      this.#zlib.closeAll();
      this.#isolate = undefined;
      this.#warm = undefined;
      this.#realms.clear();
      this.#spare = undefined;
    }
    disposeIsolate(isolate);
  }

  /**
   * Unloads the agent: requests already running finish (a reload must not cut them off), new
   * ones get the retryable AGENT_NOT_READY, and the isolate goes when the last one is done.
   */
  dispose(): void {
    this.#disposed = true;
    if (this.#inFlight === 0) this.#teardown();
  }

  #teardown(): void {
    this.#llm.dispose();
    this.#metaCopy.release();
    if (this.#isolate) this.#reset(this.#isolate);
    this.#warm?.then(
      (w) => {
        disposeIsolate(w.isolate);
      },
      () => {},
    );
    this.#warm = undefined;
  }
}

/** The answer to a host call past MAX_PENDING_HOST_CALLS, in the shape every host call fails in. */
function tooManyHostCalls(): Refused {
  return {
    ok: false,
    code: "LIMIT_HOST_CALLS_EXCEEDED",
    message: `The agent has ${MAX_PENDING_HOST_CALLS} host calls (state, fetch, llm, agents) waiting; await some first`,
  };
}

/** The store's own refusals: the host saw them, so an agent that does not catch one is not blamed. */
const INTEGRITY_CODES = new Set(["STATE_ROLLBACK_DETECTED", "STATE_CORRUPT"]);
/** How long after the store refused a read an uncaught agent error is taken to be that refusal. */
const INTEGRITY_WINDOW_MS = 5_000;

const copyOut = (bytes: Uint8Array): ArrayBuffer =>
  bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;

const noTransactions = () =>
  new VeilError("STATE_TRANSACTIONS_UNAVAILABLE", "This host's ctx.state has no transactions", {});

/** A transaction's writes as the agent sent them: [name, bytes or null][], checked. */
function transactionWrites(arg: unknown): [string, Uint8Array | undefined][] {
  if (!Array.isArray(arg)) throw new VeilError("STATE_OP_INVALID", "A transaction's writes are a list", {});
  return arg.map((w: unknown) => {
    if (
      !Array.isArray(w) ||
      w.length !== 2 ||
      typeof w[0] !== "string" ||
      !(w[1] === null || w[1] instanceof ArrayBuffer)
    )
      throw new VeilError("STATE_OP_INVALID", "A transaction write is [key, bytes or null]", {});
    return [w[0], w[1] === null ? undefined : new Uint8Array(w[1])];
  });
}

/** The host side of ctx.state: checks what the agent sends and answers plain data. */
function stateHook(state: AgentStateBackend, onIntegrity: (error: VeilError) => void) {
  return async (op: unknown, key: unknown, arg: unknown): Promise<StateAnswer> => {
    try {
      if (typeof key !== "string") throw new VeilError("STATE_KEY_INVALID", "A state key is a string", {});
      let value: unknown;
      if (op === "read") {
        if (!state.read) throw noTransactions();
        const r = await state.read(key);
        value = { value: r.value ? copyOut(r.value) : undefined, at: r.at.toString() };
      } else if (op === "commit") {
        if (!state.commit) throw noTransactions();
        // `key` is the counter the transaction read at ("" if it read nothing).
        if (key !== "" && !/^\d{1,20}$/.test(key))
          throw new VeilError("STATE_OP_INVALID", "A transaction's read counter is a number", {});
        value = await state.commit(key === "" ? undefined : BigInt(key), transactionWrites(arg));
      } else if (op === "get") {
        const bytes = await state.get(key);
        value = bytes ? copyOut(bytes) : undefined;
      } else if (op === "put") {
        if (!(arg instanceof ArrayBuffer))
          throw new VeilError("STATE_VALUE_INVALID", "A state value is bytes", {});
        await state.put(key, new Uint8Array(arg));
      } else if (op === "delete") {
        value = await state.delete(key);
      } else if (op === "list") {
        value = await state.list(key, Number.isInteger(arg) ? (arg as number) : 1000);
      } else {
        throw new VeilError("STATE_OP_INVALID", "Unknown state operation", {});
      }
      return { ok: true, value };
    } catch (err) {
      const e =
        err instanceof VeilError
          ? err
          : new VeilError("STATE_FAILED", "The state store failed", { cause: err });
      if (INTEGRITY_CODES.has(e.code)) onIntegrity(e);
      return { ok: false, code: e.code, message: e.shortMessage };
    }
  };
}
export type IsolateSandboxOptions = Parameters<typeof IsolateSandbox.create>[0];
