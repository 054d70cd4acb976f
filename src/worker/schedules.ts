import type { Hex } from "viem";
import type { privateKeyToAccount } from "viem/accounts";
import { VeilChain } from "../chain/client.ts";
import { type Cron, cronTicks, parseCron } from "../chain/cron.ts";
import { TriggersClient } from "../chain/triggers-client.ts";
import { VeilError } from "../errors/index.ts";
import { isDue, rotaRank } from "./trigger-rota.ts";

type AgentAccount = ReturnType<typeof privateKeyToAccount>;

/** What an agent's `scheduled(event, env, ctx)` handler receives. */
export type ScheduledEvent = { cron: string; scheduledTime: string; agentId: string };

export type SchedulesOptions = {
  chain: VeilChain;
  self: Hex;
  workers: () => Promise<Hex[]>;
  /** The agents this worker runs now. */
  agents: () => bigint[];
  account: (agentId: bigint) => Promise<AgentAccount>;
  run: (agentId: bigint, event: ScheduledEvent) => Promise<void>;
  fund: (address: Hex) => Promise<void>;
  /** A fallback worker claims a tick this long after the previous rank (default 5000 ms). */
  stepMs?: number;
  /** Ticks older than this are let go (default 5 minutes). */
  windowMs?: number;
  pollMs?: number;
  now?: () => number;
  log?: (message: string) => void;
};

/**
 * Runs agents' `scheduled` handlers on their cron expressions (AgentTriggers.scheduleOf), on one
 * worker per tick: the rota's preferred worker claims the tick on chain (from the agent's key)
 * and runs it only if the claim succeeded; fallbacks try later if it is still unclaimed. A
 * worker that dies between its claim and the run loses that tick (at most once; ADR 0011).
 */
export class ScheduleRunner {
  readonly #o: SchedulesOptions;
  readonly #triggers: TriggersClient;
  readonly #done = new Set<string>();
  #since: number;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #stopped = false;

  constructor(options: SchedulesOptions) {
    this.#o = options;
    this.#triggers = new TriggersClient(options.chain);
    this.#since = Math.floor(this.#now() / 1000);
  }

  #now(): number {
    return this.#o.now?.() ?? Date.now();
  }

  start(): void {
    const tick = () => {
      if (this.#stopped) return;
      this.#running = this.poll()
        .catch((err) => this.#o.log?.(`schedules: ${(err as Error).message}`))
        .finally(() => {
          if (!this.#stopped) this.#timer = setTimeout(tick, this.#o.pollMs ?? 1000);
        });
    };
    tick();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running;
  }

  async poll(): Promise<void> {
    // The chain judges ticks (claimTick: not before the schedule was set, not far in the future)
    // by its block time, which a dev chain's automining can put ahead of this clock: when it is
    // ahead, ticks are counted by it.
    const chainMs = this.#o.now
      ? 0
      : Number((await this.#o.chain.public.getBlock({ blockTag: "latest" })).timestamp) * 1000;
    const nowMs = Math.max(this.#now(), chainMs);
    const now = Math.floor(nowMs / 1000);
    const from = Math.max(this.#since, now - Math.floor((this.#o.windowMs ?? 300_000) / 1000)) - 60;
    const agents = this.#o.agents();
    if (agents.length === 0) return;
    const workers = await this.#o.workers();
    await Promise.all(
      agents.map(async (agentId) => {
        const { cron: source, since } = await this.#triggers.scheduleWithSince(agentId);
        if (!source) return;
        let cron: Cron;
        try {
          cron = parseCron(source);
        } catch (err) {
          this.#o.log?.(`agent ${agentId}: ${(err as Error).message}`);
          return;
        }
        // A schedule set just now does not run the minutes that passed before it existed.
        for (const t of cronTicks(cron, from, now).filter((tick) => tick >= since)) {
          const key = `${agentId}:${t}`;
          if (this.#done.has(key)) continue;
          const rank = rotaRank(workers, this.#o.self, `tick:${key}`);
          if (rank === undefined) continue;
          if (!isDue(rank, { blocks: 0n, ms: nowMs - t * 1000 }, { blocks: 1e9, ms: this.#o.stepMs ?? 5000 }))
            continue;
          this.#done.add(key);
          await this.#claimAndRun(agentId, BigInt(t), source).catch((err) => {
            if (err instanceof VeilError && err.code === "SCHEDULE_TICK_CLAIMED") return;
            this.#o.log?.(`agent ${agentId} tick ${t}: ${(err as Error).message}`);
          });
        }
      }),
    );
  }

  async #claimAndRun(agentId: bigint, tick: bigint, cron: string): Promise<void> {
    if ((await this.#triggers.tickClaimer(agentId, tick)) !== "0x0000000000000000000000000000000000000000")
      return;
    const account = await this.#o.account(agentId);
    await this.#o.fund(account.address);
    const asAgent = new TriggersClient(
      new VeilChain(this.#o.chain.config, { account, pollingIntervalMs: 50 }),
    );
    await asAgent.claimTick(agentId, tick, this.#o.self);
    await this.#o.run(agentId, {
      cron,
      scheduledTime: new Date(Number(tick) * 1000).toISOString(),
      agentId: agentId.toString(),
    });
  }
}
