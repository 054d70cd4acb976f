import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { VeilError } from "../errors/index.ts";
import type { IsolateSandboxOptions } from "./isolate.ts";
import {
  endFromWire,
  type FromProcess,
  fromWire,
  type HostCall,
  type ToProcess,
  toWire,
} from "./process-protocol.ts";
import {
  DEFAULT_LIMITS,
  type Sandbox,
  type SandboxRequest,
  type SandboxResponse,
  type SandboxStreamEnd,
  type SandboxTrigger,
} from "./types.ts";

// Agents run in a child process of the worker (docs/adr/0018, "Agents moved out"): the process
// is its own address space and runs at a lower priority, so what its agents do (spin on every
// core, map and unmap memory, keep V8's collector busy) reaches the worker's own agents only as
// the kernel's scheduler allows. The worker keeps the services (state, signing, calls to other
// agents, logs) and answers the process's asks for them.

const here = fileURLToPath(import.meta.url);

/** How the process is started: the build's entry when running from dist/, else the source through tsx. */
function entry(): string[] {
  const built = join(dirname(here), "sandbox-process.mjs");
  if (here.endsWith(".mjs") && existsSync(built)) return [built];
  const source = here.endsWith(".ts")
    ? join(dirname(here), "process-main.ts")
    : join(dirname(here), "..", "..", "src", "sandbox", "process-main.ts");
  return ["--import", "tsx", source];
}

type Pending = { resolve: (value: FromProcess) => void; reject: (err: Error) => void };

function processGone(why: string): VeilError {
  return new VeilError("AGENT_CRASHED", `The process the agent ran in ended (${why})`, {
    status: 502,
    retryable: true,
    hint: "Send the request again: the agent starts again in a new process.",
  });
}

/** One sandbox process: started on first use, and again after it ended. */
export class SandboxProcess {
  #child: ChildProcess | undefined;
  #ready: Promise<ChildProcess> | undefined;
  #nextId = 1;
  /** Answers awaited, by request id (invoke, pull) or sandbox id (create). */
  #waiting = new Map<string, Pending>();
  #streams = new Map<number, { finished: (end: SandboxStreamEnd) => void }>();
  #services = new Map<number, ProcessServices>();
  #generation = 0;
  #closed = false;

  /** Which start of the process this is (a sandbox made in an earlier one is gone). */
  get generation(): number {
    return this.#generation;
  }

  /** The process's id, once started (tests; operators see it in `ps`). */
  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** Starts the process now, so that the first agent moved there does not wait for it. */
  async start(): Promise<void> {
    await this.#start();
  }

  #start(): Promise<ChildProcess> {
    if (this.#closed) return Promise.reject(processGone("the worker is stopping"));
    if (this.#ready) return this.#ready;
    this.#generation++;
    const child = spawn(process.execPath, entry(), {
      stdio: ["ignore", "inherit", "inherit", "ipc"],
      serialization: "advanced",
      env: { ...process.env, VEIL_SANDBOX_PROCESS: "1" },
    });
    this.#child = child;
    this.#ready = new Promise((resolve, reject) => {
      const onStartFailure = (err: Error) => reject(err);
      child.once("error", onStartFailure);
      child.on("message", (m: FromProcess) => {
        if (m.t === "ready") {
          child.off("error", onStartFailure);
          resolve(child);
        } else this.#receive(child, m);
      });
      child.once("exit", (code, signal) => {
        reject(processGone(`it exited ${signal ?? code}`));
        this.#ended(child, signal ?? String(code));
      });
    });
    // A failed start leaves nothing behind: the next use starts again.
    this.#ready.catch(() => undefined);
    return this.#ready;
  }

  #ended(child: ChildProcess, why: string): void {
    if (this.#child !== child) return;
    this.#child = undefined;
    this.#ready = undefined;
    const err = processGone(why);
    for (const p of this.#waiting.values()) p.reject(err);
    this.#waiting.clear();
    for (const s of this.#streams.values()) {
      s.finished({ usage: emptyUsage(), llmReceipts: [], error: err });
    }
    this.#streams.clear();
    this.#services.clear();
  }

  #send(child: ChildProcess, message: ToProcess): void {
    if (child.connected) child.send(message);
  }

  #await(key: string): Promise<FromProcess> {
    return new Promise((resolve, reject) => this.#waiting.set(key, { resolve, reject }));
  }

  #receive(child: ChildProcess, m: FromProcess): void {
    switch (m.t) {
      case "created":
        this.#settle(`s${m.sid}`, m);
        break;
      case "answer":
      case "failed":
      case "chunk":
      case "chunks-ended":
        this.#settle(`r${m.rid}`, m);
        break;
      case "finished":
        this.#streams.get(m.rid)?.finished(endFromWire(m.end));
        this.#streams.delete(m.rid);
        break;
      case "call":
        void this.#serve(child, m);
        break;
      case "log":
        this.#services.get(m.sid)?.log?.(m.level, m.message);
        break;
      case "strike":
        this.#services.get(m.sid)?.onStrike?.(m.reason);
        break;
    }
  }

  #settle(key: string, m: FromProcess): void {
    const p = this.#waiting.get(key);
    this.#waiting.delete(key);
    p?.resolve(m);
  }

  async #serve(child: ChildProcess, m: Extract<FromProcess, { t: "call" }>): Promise<void> {
    try {
      const services = this.#services.get(m.sid);
      if (!services) throw new Error("the agent is gone");
      const value = await answer(services, m);
      this.#send(child, { t: "reply", cid: m.cid, ok: true, value });
    } catch (err) {
      this.#send(child, { t: "reply", cid: m.cid, ok: false, error: toWire(err) });
    }
  }

  /** Loads an agent into the process: the same options as IsolateSandbox.create. */
  async create(options: IsolateSandboxOptions): Promise<ProcessSandbox> {
    const child = await this.#start();
    const generation = this.#generation;
    const sid = this.#nextId++;
    const limits = { ...DEFAULT_LIMITS, ...options.limits };
    limits.egress = { ...DEFAULT_LIMITS.egress, ...limits.egress };
    this.#services.set(sid, {
      ...(options.state ? { state: options.state } : {}),
      ...(options.llmSigner ? { llmSigner: options.llmSigner } : {}),
      ...(options.agentCaller ? { agentCaller: options.agentCaller } : {}),
      ...(options.log ? { log: options.log } : {}),
      ...(options.onStrike ? { onStrike: options.onStrike } : {}),
    });
    const created = this.#await(`s${sid}`);
    this.#send(child, {
      t: "create",
      sid,
      code: options.code,
      meta: options.meta,
      limits,
      ...(options.secretKey ? { secretKey: options.secretKey } : {}),
      has: {
        state: options.state !== undefined,
        stateTransactions: options.state?.read !== undefined && options.state.commit !== undefined,
        llmSigner: options.llmSigner !== undefined,
        agentCaller: options.agentCaller !== undefined,
      },
    });
    const m = await created;
    if (m.t === "created" && m.error) {
      this.#services.delete(sid);
      throw fromWire(m.error);
    }
    return new ProcessSandbox(this, sid, generation);
  }

  /** @internal ProcessSandbox's invoke. */
  async invoke(
    sid: number,
    generation: number,
    request: SandboxRequest,
    trigger: SandboxTrigger | undefined,
  ): Promise<SandboxResponse> {
    const child = this.#child;
    if (!child || generation !== this.#generation) throw processGone("it was started again since");
    const rid = this.#nextId++;
    const answered = this.#await(`r${rid}`);
    // Registered before the answer: a short stream's end can arrive in the same read as its head.
    const finished = new Promise<SandboxStreamEnd>((resolve) =>
      this.#streams.set(rid, { finished: resolve }),
    );
    this.#send(child, { t: "invoke", sid, rid, request, ...(trigger ? { trigger } : {}) });
    const m = await answered;
    if (m.t === "failed") {
      this.#streams.delete(rid);
      throw fromWire(m.error);
    }
    if (m.t !== "answer") throw new Error(`the sandbox process answered ${m.t}`);
    const { streamed, ...response } = m.response;
    if (!streamed) {
      this.#streams.delete(rid);
      return response;
    }
    const pull = async (): Promise<Uint8Array | undefined> => {
      const next = this.#await(`r${rid}`);
      this.#send(child, { t: "pull", rid });
      const c = await next;
      if (c.t === "chunk") return c.bytes;
      if (c.t === "chunks-ended" && c.error) throw fromWire(c.error);
      return undefined;
    };
    return {
      ...response,
      stream: {
        chunks: {
          async *[Symbol.asyncIterator]() {
            for (let bytes = await pull(); bytes; bytes = await pull()) yield bytes;
          },
        },
        finished,
        cancel: () => this.#send(child, { t: "cancel", rid }),
      },
    };
  }

  /** @internal ProcessSandbox's dispose. */
  dispose(sid: number, generation: number): void {
    this.#services.delete(sid);
    if (this.#child && generation === this.#generation) this.#send(this.#child, { t: "dispose", sid });
  }

  /** Ends the process; sandboxes in it answer AGENT_CRASHED from now on. */
  close(): void {
    this.#closed = true;
    const child = this.#child;
    if (child) {
      child.kill("SIGKILL");
      this.#ended(child, "closed");
    }
  }
}

type ProcessServices = Pick<
  IsolateSandboxOptions,
  "state" | "llmSigner" | "agentCaller" | "log" | "onStrike"
>;

async function answer(s: ProcessServices, call: HostCall): Promise<unknown> {
  const need = <T>(service: T | undefined): T => {
    if (service === undefined) throw new Error(`${call.op} is not offered to this agent`);
    return service;
  };
  switch (call.op) {
    case "state.get":
      return need(s.state).get(...call.args);
    case "state.put":
      return need(s.state).put(...call.args);
    case "state.delete":
      return need(s.state).delete(...call.args);
    case "state.list":
      return need(s.state).list(...call.args);
    case "state.read":
      return need(need(s.state).read?.bind(s.state))(...call.args);
    case "state.commit":
      return need(need(s.state).commit?.bind(s.state))(...call.args);
    case "llm.sign":
      return need(s.llmSigner)(...call.args);
    case "agents.call":
      return need(s.agentCaller)(...call.args);
  }
}

function emptyUsage(): SandboxStreamEnd["usage"] {
  return {
    cpuUs: 0,
    wallUs: 0,
    heapBytes: 0,
    egressBytes: 0,
    stateBytes: 0,
    llmPromptTokens: 0,
    llmCompletionTokens: 0,
  };
}

/** An agent in a sandbox process, behind the same interface as one in the worker's. */
export class ProcessSandbox implements Sandbox {
  readonly #process: SandboxProcess;
  readonly #sid: number;
  readonly #generation: number;

  constructor(process: SandboxProcess, sid: number, generation: number) {
    this.#process = process;
    this.#sid = sid;
    this.#generation = generation;
  }

  /** False once its process ended: the agent must be loaded again. */
  get alive(): boolean {
    return this.#process.generation === this.#generation && this.#process.pid !== undefined;
  }

  invoke(request: SandboxRequest, trigger?: SandboxTrigger): Promise<SandboxResponse> {
    return this.#process.invoke(this.#sid, this.#generation, request, trigger);
  }

  dispose(): void {
    this.#process.dispose(this.#sid, this.#generation);
  }
}
