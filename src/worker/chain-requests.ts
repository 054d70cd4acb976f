import { type Hex, parseEther } from "viem";
import type { privateKeyToAccount } from "viem/accounts";
import { VeilChain } from "../chain/client.ts";
import { type AgentRequestEvent, RequestStatus, TriggersClient } from "../chain/triggers-client.ts";
import { VeilError } from "../errors/index.ts";
import { isDue, rotaRank } from "./trigger-rota.ts";

type AgentAccount = ReturnType<typeof privateKeyToAccount>;

/** What an agent's `onChainRequest(request, env, ctx)` handler receives. */
export type OnChainRequest = {
  id: string;
  agentId: string;
  consumer: Hex;
  payload: Hex;
  deadlineBlock: string;
  fee: string;
};

export type ChainRequestsOptions = {
  /** A reader of the chain (no account). */
  chain: VeilChain;
  /** This worker's address (its identity key, as in WorkerRegistry). */
  self: Hex;
  /** The active workers' addresses (the rota is computed over them). */
  workers: () => Promise<Hex[]>;
  /** Whether this worker runs agent `id` now. */
  serves: (agentId: bigint) => boolean;
  /** The agent's signing account (its certified EVM address): answers are sent from it. */
  account: (agentId: bigint) => Promise<AgentAccount>;
  /** Runs the agent's onChainRequest handler; returns the response bytes. */
  run: (agentId: bigint, request: OnChainRequest) => Promise<Hex>;
  /** Makes sure `address` can pay for one answer's gas (see AgentGas). */
  fund: (address: Hex) => Promise<void>;
  /** A fallback worker steps in after this many blocks (default 3)… */
  stepBlocks?: number;
  /** …or this many milliseconds (default 3000), per rank. */
  stepMs?: number;
  pollMs?: number;
  log?: (message: string) => void;
};

type Pending = AgentRequestEvent & { seenAt: number; attempted: boolean };

/**
 * Watches AgentTriggers for requests to agents this worker serves, runs each agent's
 * `onChainRequest` in its sandbox and answers on chain from the agent's own key. Exactly once is
 * the chain's job (fulfill refuses a second answer); this module only decides who tries when:
 * the preferred worker of the rota at once, fallbacks later (trigger-rota.ts).
 */
export class ChainRequestWatcher {
  readonly #o: ChainRequestsOptions;
  readonly #triggers: TriggersClient;
  readonly #pending = new Map<string, Pending>();
  /** Transactions of one agent from this worker go one at a time (their nonces must not collide). */
  readonly #agentWrites = new Map<string, Promise<unknown>>();
  #scanned = -1n;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #stopped = false;

  constructor(options: ChainRequestsOptions) {
    this.#o = options;
    this.#triggers = new TriggersClient(options.chain);
  }

  /** Starts watching from the current block (`fromBlock` to catch up on earlier requests). */
  async start(fromBlock?: bigint): Promise<void> {
    this.#scanned = fromBlock !== undefined ? fromBlock - 1n : await this.#o.chain.blockNumber();
    const tick = () => {
      if (this.#stopped) return;
      this.#running = this.poll()
        .catch((err) => this.#o.log?.(`chain requests: ${(err as Error).message}`))
        .finally(() => {
          if (!this.#stopped) this.#timer = setTimeout(tick, this.#o.pollMs ?? 250);
        });
    };
    tick();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running;
  }

  /** One round: read new requests, then act on those that are due for this worker. */
  async poll(): Promise<void> {
    const head = await this.#o.chain.blockNumber();
    if (head > this.#scanned) {
      for (const e of await this.#triggers.requestEvents(this.#scanned + 1n, head)) {
        if (this.#o.serves(e.agentId)) {
          this.#pending.set(e.id.toString(), { ...e, seenAt: Date.now(), attempted: false });
        }
      }
      this.#scanned = head;
    }
    if (this.#pending.size === 0) return;
    const workers = await this.#o.workers();
    await Promise.all(
      [...this.#pending.values()].map((p) =>
        this.#consider(p, head, workers).catch((err) => this.#failed(p, err)),
      ),
    );
  }

  async #consider(p: Pending, head: bigint, workers: Hex[]): Promise<void> {
    const key = p.id.toString();
    if (head > p.deadlineBlock) {
      this.#pending.delete(key);
      return;
    }
    if (p.attempted) return;
    const rank = rotaRank(workers, this.#o.self, `request:${key}`);
    if (rank === undefined) return;
    const due = isDue(
      rank,
      { blocks: head - p.blockNumber, ms: Date.now() - p.seenAt },
      { blocks: this.#o.stepBlocks ?? 3, ms: this.#o.stepMs ?? 3000 },
    );
    if (!due) return;
    p.attempted = true;
    if ((await this.#triggers.getRequest(p.id)).status !== RequestStatus.Pending) {
      this.#pending.delete(key);
      return;
    }
    const response = await this.#o.run(p.agentId, {
      id: key,
      agentId: p.agentId.toString(),
      consumer: p.consumer,
      payload: p.payload,
      deadlineBlock: p.deadlineBlock.toString(),
      fee: p.fee.toString(),
    });
    const account = await this.#o.account(p.agentId);
    await this.#asAgent(p.agentId, async () => {
      await this.#o.fund(account.address);
      const agentChain = new VeilChain(this.#o.chain.config, { account, pollingIntervalMs: 50 });
      await new TriggersClient(agentChain).fulfill(p.id, response);
    });
    this.#pending.delete(key);
    this.#o.log?.(`answered request ${key} for agent ${p.agentId}`);
  }

  #asAgent(agentId: bigint, fn: () => Promise<void>): Promise<void> {
    const key = agentId.toString();
    const next = (this.#agentWrites.get(key) ?? Promise.resolve()).then(fn);
    this.#agentWrites.set(
      key,
      next.catch(() => {}),
    );
    return next;
  }

  #failed(p: Pending, err: unknown): void {
    // Answered by another worker in the meantime, or expired: nothing more to do here.
    if (
      err instanceof VeilError &&
      (err.code === "TRIGGER_REQUEST_SETTLED" || err.code === "TRIGGER_DEADLINE_PASSED")
    ) {
      this.#pending.delete(p.id.toString());
      return;
    }
    // This worker tried once and failed (the agent threw, say): the fallbacks will try in turn.
    this.#o.log?.(`request ${p.id} for agent ${p.agentId} failed here: ${(err as Error).message}`);
  }
}

/**
 * Gas for agents' own transactions. The answer's fee reimburses the agent's address, but the
 * first answer needs gas before any fee arrives; the worker's operator tops the agent's address
 * up to `target` when it falls below `floor` (docs/adr/0011-triggers.md).
 */
export class AgentGas {
  readonly #operator: VeilChain;
  readonly #floor: bigint;
  readonly #target: bigint;
  #writes: Promise<unknown> = Promise.resolve();

  constructor(operator: VeilChain, options: { floor?: bigint; target?: bigint } = {}) {
    this.#operator = operator;
    this.#floor = options.floor ?? parseEther("0.005");
    this.#target = options.target ?? parseEther("0.02");
  }

  /** Serialised with the operator's other transactions through `writes`, if given. */
  fund(address: Hex): Promise<void> {
    const run = async () => {
      const balance = await this.#operator.public.getBalance({ address });
      if (balance >= this.#floor) return;
      const wallet = this.#operator.wallet;
      if (!wallet) throw new Error("AgentGas needs an operator account");
      const hash = await wallet.sendTransaction({ to: address, value: this.#target - balance });
      await this.#operator.public.waitForTransactionReceipt({ hash, pollingInterval: 50 });
    };
    const next = this.#writes.then(run);
    this.#writes = next.catch(() => {});
    return next;
  }
}
