import { createHash, createHmac, randomBytes } from "node:crypto";
import ivm from "isolated-vm";
import { VeilError } from "../errors/index.ts";
import { DISPATCHER_SOURCE } from "./dispatcher.ts";
import { Egress, type EgressRequest } from "./egress.ts";
import { buildPrelude } from "./prelude-bundle.ts";
import {
  type AgentMeta,
  type AgentStateBackend,
  DEFAULT_LIMITS,
  type LogSink,
  type Sandbox,
  type SandboxLimits,
  type SandboxRequest,
  type SandboxResponse,
  type SandboxTrigger,
} from "./types.ts";

type DispatchResult =
  | { ok: true; status: number; headers: [string, string][]; body: ArrayBuffer }
  | { ok: false; kind: "threw" | "bad-response"; error: { name: string; message: string; stack?: string } };

function loadFailed(message: string, cause?: unknown): VeilError {
  return new VeilError("AGENT_LOAD_FAILED", `The agent's bundle could not be loaded: ${message}`, {
    status: 502,
    cause,
    hint: "Run the agent locally, fix the error, and deploy again.",
  });
}

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
 * One agent version in its own V8 isolate (isolated-vm): its own heap with a hard limit, the
 * web-standard prelude, and the agent's ES module. Requests cross in and out as copies.
 * When a limit kills the isolate, the next request gets a fresh one.
 */
export class IsolateSandbox implements Sandbox {
  readonly #code: string;
  readonly #meta: AgentMeta;
  readonly #limits: SandboxLimits;
  readonly #log: LogSink;
  #isolate: ivm.Isolate | undefined;
  #dispatch: ivm.Reference | undefined;
  #loading: Promise<void> | undefined;
  /** Host timers the agent's isolate is waiting on; cleared when the isolate is thrown away. */
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #egress: Egress;
  readonly #state: AgentStateBackend | undefined;
  #inFlight = 0;

  private constructor(
    code: string,
    meta: AgentMeta,
    limits: SandboxLimits,
    log: LogSink,
    state: AgentStateBackend | undefined,
  ) {
    this.#state = state;
    this.#code = code;
    this.#meta = meta;
    this.#limits = limits;
    this.#log = log;
    this.#egress = new Egress(limits.egress);
  }

  /** Compiles and evaluates the agent; load errors surface here, before it serves anything. */
  static async create(options: {
    code: string;
    meta: AgentMeta;
    limits?: Partial<SandboxLimits>;
    log?: LogSink;
    /** The agent's `ctx.state`; without it, `ctx.state` is undefined. */
    state?: AgentStateBackend;
  }): Promise<IsolateSandbox> {
    const sandbox = new IsolateSandbox(
      options.code,
      options.meta,
      { ...DEFAULT_LIMITS, ...options.limits },
      options.log ?? (() => {}),
      options.state,
    );
    await sandbox.#ensureLoaded();
    return sandbox;
  }

  #ensureLoaded(): Promise<void> {
    if (this.#dispatch && this.#isolate && !this.#isolate.isDisposed) return Promise.resolve();
    this.#loading ??= this.#load().finally(() => {
      this.#loading = undefined;
    });
    return this.#loading;
  }

  async #load(): Promise<void> {
    const prelude = await buildPrelude();
    const isolate = new ivm.Isolate({ memoryLimit: this.#limits.memoryMb });
    try {
      const context = await isolate.createContext();
      await context.evalClosure(
        "globalThis.__veilHost = { log: $0, random: $1, digest: $2, hmac: $3, sleep: $4, fetch: $5, state: $6 };",
        this.#hostHooks(),
        { timeout: 1000 },
      );
      await context.eval(prelude, { timeout: 1000, filename: "veil:prelude" });
      await context.eval(DISPATCHER_SOURCE, { timeout: 1000, filename: "veil:dispatcher" });
      const global = context.global;
      const setAgent = (await global.get("__veilSetAgent", { reference: true })) as ivm.Reference;
      const dispatch = (await global.get("__veilDispatch", { reference: true })) as ivm.Reference;
      await global.delete("__veilSetAgent");
      await global.delete("__veilDispatch");

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
          limitError(err, this.#limits) ??
          loadFailed(`it threw while loading: ${(err as Error).message}`, err)
        );
      }
      const exported = (await module.namespace.get("default", { reference: true })) as ivm.Reference;
      const installed = (await setAgent.apply(undefined, [exported.derefInto()], {
        result: { copy: true },
        timeout: 1000,
      })) as { ok: boolean; message?: string };
      if (!installed.ok) throw loadFailed(installed.message ?? "no default export");
      this.#dispatch = dispatch;
      this.#isolate = isolate;
    } catch (err) {
      isolate.dispose();
      if (err instanceof VeilError) throw err;
      throw limitError(err, this.#limits) ?? loadFailed((err as Error).message, err);
    }
  }

  /**
   * What the prelude may call on the host. Everything that crosses is copied, and each hook
   * checks its input: the agent is hostile.
   */
  #hostHooks(): unknown[] {
    const log = this.#log;
    const timers = this.#timers;
    const egress = this.#egress;
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
    return [
      new ivm.Callback((level: unknown, message: unknown) => log(String(level), String(message))),
      new ivm.Callback((n: unknown) => {
        if (!Number.isInteger(n) || (n as number) < 0 || (n as number) > 65536)
          throw new RangeError("bad length");
        return buffer(randomBytes(n as number));
      }),
      new ivm.Callback((alg: unknown, data: unknown) =>
        buffer(createHash(hash(alg)).update(bytes(data)).digest()),
      ),
      new ivm.Callback((alg: unknown, key: unknown, data: unknown) =>
        buffer(createHmac(hash(alg), bytes(key)).update(bytes(data)).digest()),
      ),
      new ivm.Reference(
        (ms: unknown) =>
          new Promise<void>((resolve) => {
            const t = setTimeout(
              () => {
                timers.delete(t);
                resolve();
              },
              Math.min(Math.max(0, Number(ms) || 0), 86_400_000),
            );
            timers.add(t);
          }),
      ),
      new ivm.Reference(async (req: unknown) => {
        const r = req as EgressRequest;
        const headers = Array.isArray(r?.headers)
          ? r.headers
              .filter((h) => Array.isArray(h) && h.length === 2)
              .map(([k, v]) => [String(k), String(v)] as [string, string])
          : [];
        const answer = await egress.fetch({
          url: String(r?.url),
          method: typeof r?.method === "string" ? r.method : "GET",
          headers,
          body: r?.body instanceof ArrayBuffer ? r.body : null,
        });
        return new ivm.ExternalCopy(answer).copyInto({ release: true });
      }),
      this.#state ? new ivm.Reference(stateHook(this.#state)) : undefined,
    ];
  }

  async invoke(request: SandboxRequest, trigger?: SandboxTrigger): Promise<SandboxResponse> {
    if (this.#inFlight >= this.#limits.maxConcurrent) {
      throw new VeilError(
        "LIMIT_CONCURRENCY_EXCEEDED",
        `The agent already has ${this.#limits.maxConcurrent} requests in flight`,
        { status: 429, retryable: true, hint: "Retry shortly, or deploy with a higher concurrency limit." },
      );
    }
    this.#inFlight++;
    try {
      return await this.#invoke(request, trigger);
    } finally {
      this.#inFlight--;
    }
  }

  async #invoke(request: SandboxRequest, trigger?: SandboxTrigger): Promise<SandboxResponse> {
    await this.#ensureLoaded();
    const isolate = this.#isolate!;
    const dispatch = this.#dispatch!;
    const body = request.body ? new Uint8Array(request.body).buffer : null;
    const startedAt = process.hrtime.bigint();
    const cpuAtStart = isolate.cpuTime;
    const egressAtStart = this.#egress.bytes;
    const stateAtStart = this.#state?.bytesWritten ?? 0;
    let timer: NodeJS.Timeout | undefined;
    let cpuWatch: NodeJS.Timeout | undefined;
    const wall = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error("Script execution timed out.")), this.#limits.wallTimeMs);
      // CPU time is the isolate's, shared by the agent's concurrent requests: a request is cut
      // when the isolate has run more than the limit since it began. Asynchronous code (a loop
      // of awaits) is caught by this watch; a synchronous loop by the watch or the wall timeout.
      const cpuStart = isolate.cpuTime;
      const cpuLimitNs = BigInt(this.#limits.cpuTimeMs) * 1_000_000n;
      cpuWatch = setInterval(() => {
        if (isolate.isDisposed) return;
        if (isolate.cpuTime - cpuStart > cpuLimitNs) {
          reject(new Error("CPU time limit exceeded"));
          isolate.dispose();
        }
      }, 10);
    });
    let result: DispatchResult;
    try {
      result = (await Promise.race([
        dispatch.apply(
          undefined,
          [
            new ivm.ExternalCopy({ ...request, body }).copyInto({ release: true }),
            new ivm.ExternalCopy(trigger ? { ...this.#meta, trigger } : this.#meta).copyInto({
              release: true,
            }),
          ],
          { timeout: this.#limits.wallTimeMs, result: { promise: true, copy: true } },
        ),
        wall,
      ])) as DispatchResult;
    } catch (err) {
      const limit = limitError(err, this.#limits);
      // A runaway agent may still hold the isolate: throw it away; the next request reloads.
      if (limit || isolate.isDisposed) this.#reset(isolate);
      throw (
        limit ?? new VeilError("AGENT_CRASHED", "The agent's sandbox failed", { status: 502, cause: err })
      );
    } finally {
      clearTimeout(timer);
      clearInterval(cpuWatch);
    }
    if (!result.ok) {
      this.#log("error", result.error.stack ?? `${result.error.name}: ${result.error.message}`);
      throw new VeilError(
        result.kind === "bad-response" ? "AGENT_BAD_RESPONSE" : "AGENT_THREW",
        result.kind === "bad-response"
          ? `The agent's fetch handler did not return a Response: ${result.error.message}`
          : `The agent threw: ${result.error.name}: ${result.error.message}`,
        { status: 500, hint: "See `veil logs` for the stack, fix the agent and deploy again." },
      );
    }
    if (result.body.byteLength > this.#limits.maxResponseBytes) {
      throw new VeilError(
        "LIMIT_RESPONSE_TOO_LARGE",
        `The agent's response is ${result.body.byteLength} bytes, over its ${this.#limits.maxResponseBytes}`,
        { status: 502, hint: "Return a smaller body." },
      );
    }
    const usage = {
      cpuUs: isolate.isDisposed ? 0 : Number((isolate.cpuTime - cpuAtStart) / 1000n),
      wallUs: Number((process.hrtime.bigint() - startedAt) / 1000n),
      heapBytes: isolate.isDisposed ? 0 : isolate.getHeapStatisticsSync().used_heap_size,
      egressBytes: this.#egress.bytes - egressAtStart,
      stateBytes: (this.#state?.bytesWritten ?? 0) - stateAtStart,
    };
    return { status: result.status, headers: result.headers, body: new Uint8Array(result.body), usage };
  }

  #reset(isolate: ivm.Isolate): void {
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    if (this.#isolate === isolate) {
      this.#isolate = undefined;
      this.#dispatch = undefined;
    }
    if (!isolate.isDisposed) isolate.dispose();
  }

  dispose(): void {
    if (this.#isolate) this.#reset(this.#isolate);
  }
}

/** The host side of ctx.state: checks what the agent sends and answers plain data. */
function stateHook(state: AgentStateBackend) {
  return async (op: unknown, key: unknown, arg: unknown) => {
    try {
      if (typeof key !== "string") throw new VeilError("STATE_KEY_INVALID", "A state key is a string", {});
      let value: unknown;
      if (op === "get") {
        const bytes = await state.get(key);
        value = bytes ? bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) : undefined;
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
      return new ivm.ExternalCopy({ ok: true, value }).copyInto({ release: true });
    } catch (err) {
      const e =
        err instanceof VeilError
          ? err
          : new VeilError("STATE_FAILED", "The state store failed", { cause: err });
      return new ivm.ExternalCopy({ ok: false, code: e.code, message: e.shortMessage }).copyInto({
        release: true,
      });
    }
  };
}
