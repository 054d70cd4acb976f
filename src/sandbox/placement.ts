import { VeilError } from "../errors/index.ts";
import { IsolateSandbox, type IsolateSandboxOptions } from "./isolate.ts";
import { type ProcessSandbox, SandboxProcess } from "./process-sandbox.ts";
import type { Sandbox, SandboxRequest, SandboxResponse, SandboxTrigger } from "./types.ts";

// Where an agent runs (docs/adr/0018, "Agents moved out"). Every agent starts in the worker's
// own process, where a call costs least. One that a limit stops, that answers what no transport
// may carry, or that keeps a core busy (more than `heavyCpuMsPerSecond` of CPU a second, two
// seconds in a row) is
// moved to the worker's sandbox process, which runs at a lower priority in its own address
// space: from then on its spinning, its memory churn and its garbage collection reach the
// agents left in the worker only as far as the kernel's scheduler lets a niced process reach
// others. A light agent never pays the crossing; a heavy one pays ~0.1 ms a call.

export type PlacementOptions = {
  /** CPU an agent may use in a second in the worker's process before it is moved (ms). */
  heavyCpuMsPerSecond?: number;
  /** Off: every agent stays in the worker's process (`VEIL_AGENT_PLACEMENT=off`). */
  enabled?: boolean;
};

/** Error codes of answers that show an agent is hostile or broken, not merely busy. */
const MOVE_ON = new Set([
  "AGENT_BAD_RESPONSE",
  "LIMIT_RESPONSE_TOO_LARGE",
  "LIMIT_MEMORY_EXCEEDED",
  "LIMIT_HOST_CALLS_EXCEEDED",
]);

export class AgentPlacement {
  readonly #heavyCpuUs: number;
  readonly enabled: boolean;
  readonly #process = new SandboxProcess();

  constructor(options: PlacementOptions = {}) {
    this.#heavyCpuUs = (options.heavyCpuMsPerSecond ?? 500) * 1000;
    this.enabled = options.enabled ?? process.env.VEIL_AGENT_PLACEMENT !== "off";
  }

  /** Loads an agent where it starts: the worker's process. */
  async create(options: IsolateSandboxOptions): Promise<Sandbox> {
    if (!this.enabled) return IsolateSandbox.create(options);
    const placed = new PlacedSandbox(options, this.#process, this.#heavyCpuUs);
    await placed.load();
    return placed;
  }

  /**
   * Starts the sandbox process ahead of need (a worker does at boot): moving an agent then costs
   * one load of it, not a process's start.
   */
  async start(): Promise<void> {
    if (this.enabled) await this.#process.start();
  }

  /** The sandbox process's id, once started. */
  get processPid(): number | undefined {
    return this.#process.pid;
  }

  close(): void {
    this.#process.close();
  }
}

/** One agent, in the worker's process until it shows itself heavy or hostile, then moved. */
export class PlacedSandbox implements Sandbox {
  readonly #options: IsolateSandboxOptions;
  readonly #process: SandboxProcess;
  readonly #heavyCpuUs: number;
  #local: IsolateSandbox | undefined;
  #remote: ProcessSandbox | undefined;
  #moving: Promise<void> | undefined;
  #windowStart = performance.now();
  #windowCpuAtUs = 0;
  #heavyBefore = false;
  #disposed = false;
  /** Why it was moved, once it was. */
  movedBecause: string | undefined;

  constructor(options: IsolateSandboxOptions, process: SandboxProcess, heavyCpuUs: number) {
    this.#process = process;
    this.#heavyCpuUs = heavyCpuUs;
    this.#options = {
      ...options,
      onStrike: (reason) => {
        options.onStrike?.(reason);
        this.#move(`stopped by ${reason}`);
      },
    };
  }

  async load(): Promise<void> {
    this.#local = await IsolateSandbox.create(this.#options);
  }

  /** Where the agent runs now. */
  get where(): "worker" | "sandbox process" {
    return this.#remote ? "sandbox process" : "worker";
  }

  async invoke(request: SandboxRequest, trigger?: SandboxTrigger): Promise<SandboxResponse> {
    if (this.#moving && !this.#remote) await this.#moving;
    const remote = this.#remote;
    if (remote) {
      // The sandbox process ended (an agent in it brought it down): load this one again there.
      if (!remote.alive) {
        this.#remote = undefined;
        this.#moving = undefined;
        this.#move("its process ended");
        await this.#moving;
        return (this.#remote ?? remote).invoke(request, trigger);
      }
      return remote.invoke(request, trigger);
    }
    const local = this.#local;
    if (!local) {
      throw new VeilError("AGENT_NOT_READY", "The agent is not loaded", { status: 503, retryable: true });
    }
    try {
      const r = await local.invoke(request, trigger);
      if (r.stream) {
        r.stream.finished.then((end) => {
          this.#checkCpu(local);
          if (end.error instanceof VeilError && MOVE_ON.has(end.error.code)) this.#move(end.error.code);
        });
      }
      return r;
    } catch (err) {
      if (err instanceof VeilError && MOVE_ON.has(err.code)) this.#move(err.code);
      throw err;
    } finally {
      this.#checkCpu(local);
    }
  }

  /**
   * Reads the agent's CPU from its isolates (not from requests' usage: requests running at once
   * each count what they overlap in), its timers' and waitUntil's work included.
   */
  #checkCpu(local: IsolateSandbox): void {
    const now = performance.now();
    const elapsedMs = now - this.#windowStart;
    if (elapsedMs < 1000) return;
    const used = local.cpuUsedUs;
    const perSecondUs = ((used - this.#windowCpuAtUs) / elapsedMs) * 1000;
    const heavy = perSecondUs > this.#heavyCpuUs;
    // Two heavy seconds in a row: a burst (a few new realms, a cold start) is not enough.
    if (heavy && this.#heavyBefore) {
      this.#move(`used ${Math.round(perSecondUs / 1000)} ms of CPU a second, two seconds in a row`);
    }
    this.#heavyBefore = heavy;
    this.#windowStart = now;
    this.#windowCpuAtUs = used;
  }

  #move(why: string): void {
    if (this.#moving || this.#remote || this.#disposed) return;
    this.movedBecause = why;
    this.#moving = this.#process.create(this.#options).then(
      (remote) => {
        if (this.#disposed) {
          remote.dispose();
          return;
        }
        this.#remote = remote;
        this.#options.log?.(
          "warn",
          `moved to the worker's sandbox process (lower priority, its own memory): ${why}`,
        );
        // Requests running there finish first (IsolateSandbox.dispose waits for them).
        this.#local?.dispose();
        this.#local = undefined;
      },
      (err: unknown) => {
        // The agent stays where it is; the next sign tries again.
        this.#moving = undefined;
        this.#options.log?.(
          "error",
          `could not be moved to the sandbox process (${err instanceof Error ? err.message : String(err)})`,
        );
      },
    );
  }

  dispose(): void {
    this.#disposed = true;
    this.#local?.dispose();
    this.#local = undefined;
    this.#remote?.dispose();
  }
}
