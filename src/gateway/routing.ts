import type { Hex } from "viem";
import { type AgentRecord, type VeilChain, WorkerStatus } from "../chain/index.ts";
import { VeilError } from "../errors/index.ts";

export type WorkerEndpoint = { address: Hex; url: string };

/** How long a worker that refused a connection is tried last. */
const DOWN_FOR_MS = 3_000;
const WORKERS_TTL_MS = 1_000;

/**
 * What the gateway knows to route: agent names to ids (names never move, so they are cached
 * for good) and the active workers from the WorkerRegistry (refreshed every second), with a
 * short memory of which ones just failed so that requests go to live ones first.
 */
export class Router {
  readonly #chain: VeilChain;
  readonly #ids = new Map<string, bigint>();
  #workers: WorkerEndpoint[] = [];
  #workersAt = 0;
  #refreshing: Promise<void> | undefined;
  readonly #downUntil = new Map<Hex, number>();
  #next = 0;

  constructor(chain: VeilChain) {
    this.#chain = chain;
  }

  /**
   * The agent's id, for routing. Names never move and ids never disappear, so a found id is
   * cached for good: invoking costs no chain round trip. (Workers check the code hash and the
   * rest of the agent's state against the chain themselves.)
   */
  async resolveId(nameOrId: string): Promise<bigint> {
    const cached = this.#ids.get(nameOrId);
    if (cached !== undefined) return cached;
    const record = await this.resolve(nameOrId);
    this.#ids.set(nameOrId, record.id);
    return record.id;
  }

  async resolve(nameOrId: string): Promise<AgentRecord> {
    let id: bigint | undefined;
    if (/^\d{1,30}$/.test(nameOrId)) id = BigInt(nameOrId);
    else {
      id = this.#ids.get(nameOrId);
      if (id === undefined) {
        if (!/^[a-z][a-z0-9-]{0,63}$/.test(nameOrId)) throw unknownAgent(nameOrId);
        id = await this.#chain.agentIdOf(nameOrId);
        if (id === 0n) throw unknownAgent(nameOrId);
        this.#ids.set(nameOrId, id);
      }
    }
    try {
      return await this.#chain.getAgent(id);
    } catch (err) {
      if (err instanceof VeilError && err.code === "AGENT_NOT_FOUND") throw unknownAgent(nameOrId);
      throw err;
    }
  }

  async #refresh(): Promise<void> {
    const records = await this.#chain.listWorkers();
    const active = records.filter((w) => w.status === WorkerStatus.Active && /^https?:\/\//.test(w.endpoint));
    // Active is not enough: evidence may have aged past the policy, or governance may have
    // revoked the measurement or raised the TCB minimum before anyone recorded it on chain.
    const attested = await Promise.all(active.map((w) => this.#chain.isWorkerAttested(w.address)));
    this.#workers = active
      .filter((_, i) => attested[i])
      .map((w) => ({ address: w.address, url: w.endpoint.replace(/\/$/, "") }));
    this.#workersAt = Date.now();
  }

  /** Active workers, live ones first, rotating the starting point for load balance. */
  async workers(): Promise<WorkerEndpoint[]> {
    if (Date.now() - this.#workersAt > WORKERS_TTL_MS) {
      this.#refreshing ??= this.#refresh().finally(() => {
        this.#refreshing = undefined;
      });
      if (this.#workers.length === 0) await this.#refreshing;
      else this.#refreshing.catch(() => {});
    }
    const n = this.#workers.length;
    const start = n ? this.#next++ % n : 0;
    const rotated = [...this.#workers.slice(start), ...this.#workers.slice(0, start)];
    const now = Date.now();
    const up = rotated.filter((w) => (this.#downUntil.get(w.address) ?? 0) <= now);
    const down = rotated.filter((w) => (this.#downUntil.get(w.address) ?? 0) > now);
    return [...up, ...down];
  }

  markDown(worker: WorkerEndpoint): void {
    this.#downUntil.set(worker.address, Date.now() + DOWN_FOR_MS);
  }

  markUp(worker: WorkerEndpoint): void {
    this.#downUntil.delete(worker.address);
  }
}

function unknownAgent(nameOrId: string): VeilError {
  return new VeilError("AGENT_NOT_FOUND", `There is no agent "${nameOrId}"`, {
    status: 404,
    hint: "Check the name, or deploy it with `veil deploy ./dir --name NAME`.",
  });
}
