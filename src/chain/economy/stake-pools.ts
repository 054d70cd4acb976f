import { type Hex, parseEventLogs } from "viem";
import { stakePoolAbi } from "../abi.ts";
import {
  type EconomyConnection,
  EconomyContractClient,
  type WriteArgs,
  type WriteName,
  withEconomyErrors,
} from "./base.ts";
import type { TokenClient } from "./token.ts";

export type PoolRecord = {
  id: bigint;
  owner: Hex;
  commissionBps: number;
  queueHead: bigint;
  queueTail: bigint;
  totalShares: bigint;
  totalStake: bigint;
  freeStake: bigint;
  ownerRewards: bigint;
};

export type QueuedWithdrawal = { delegator: Hex; requestedAt: bigint; shares: bigint };

/**
 * Stake pools (StakePool.sol): pools, delegators' contributions and withdrawals, workers bound
 * to a pool and the stake they mine with.
 *
 * @example
 * const { poolId } = await economy.pools.createPool(1000); // 10% commission
 * await economy.pools.contribute(poolId, parseVeil("500"));
 */
export class StakePoolClient extends EconomyContractClient {
  readonly #token: TokenClient;

  constructor(connection: EconomyConnection, token: TokenClient) {
    super(connection);
    this.#token = token;
  }

  /**
   * @example
   * const { poolId, hash } = await economy.pools.createPool(1000);
   */
  async createPool(commissionBps: number): Promise<{ poolId: bigint; hash: Hex }> {
    const { hash, logs } = await this.send(
      "create a stake pool",
      this.addresses.stakePool,
      stakePoolAbi,
      "createPool",
      [commissionBps],
    );
    const [event] = parseEventLogs({ abi: stakePoolAbi, logs, eventName: "PoolCreated" });
    if (!event) throw new Error(`create a stake pool: no PoolCreated event in ${hash}`);
    return { poolId: event.args.poolId, hash };
  }

  /**
   * @example
   * await economy.pools.setPoolCommission(1n, 500);
   */
  async setPoolCommission(poolId: bigint, commissionBps: number): Promise<Hex> {
    return this.#write(`set the commission of pool ${poolId}`, "setCommission", [poolId, commissionBps]);
  }

  /**
   * Contributes `amount` to pool `poolId` (approving the pool contract first if needed).
   *
   * @example
   * await economy.pools.contribute(1n, parseVeil("500"));
   */
  async contribute(poolId: bigint, amount: bigint): Promise<Hex> {
    await this.#token.ensureAllowance(this.addresses.stakePool, amount);
    return this.#write(`contribute to pool ${poolId}`, "contribute", [poolId, amount]);
  }

  /**
   * Withdraws `shares` from pool `poolId`: paid now from free stake, or queued.
   *
   * @example
   * const { shares } = await economy.pools.poolPosition(1n, economy.account);
   * await economy.pools.withdrawFromPool(1n, shares);
   */
  async withdrawFromPool(poolId: bigint, shares: bigint): Promise<Hex> {
    return this.#write(`withdraw from pool ${poolId}`, "withdraw", [poolId, shares]);
  }

  /**
   * @example
   * await economy.pools.processPoolQueue(1n);
   */
  async processPoolQueue(poolId: bigint, max = 8n): Promise<Hex> {
    return this.#write(`process the withdrawal queue of pool ${poolId}`, "processQueue", [poolId, max]);
  }

  /**
   * Pays `amount` of this account's tokens to the pool of `worker` as a reward (approving first if needed).
   *
   * @example
   * await economy.pools.creditReward(worker, parseVeil("1"));
   */
  async creditReward(worker: Hex, amount: bigint): Promise<Hex> {
    await this.#token.ensureAllowance(this.addresses.stakePool, amount);
    return this.#write(`credit a reward to the pool of ${worker}`, "creditReward", [worker, amount]);
  }

  /**
   * @example
   * await economy.pools.claimCommission(1n);
   */
  async claimCommission(poolId: bigint, to: Hex = this.account): Promise<Hex> {
    return this.#write(`claim the commission of pool ${poolId}`, "claimCommission", [poolId, to]);
  }

  /**
   * @example
   * await economy.pools.bindWorker(1n, worker);
   */
  async bindWorker(poolId: bigint, worker: Hex): Promise<Hex> {
    return this.#write(`bind worker ${worker} to pool ${poolId}`, "bindWorker", [poolId, worker]);
  }

  /**
   * @example
   * await economy.pools.unbindWorker(worker);
   */
  async unbindWorker(worker: Hex): Promise<Hex> {
    return this.#write(`unbind worker ${worker}`, "unbindWorker", [worker]);
  }

  /**
   * Assigns `stake` of its pool's free stake to `worker` and starts it mining.
   *
   * @example
   * await economy.pools.startMining(worker, parseVeil("1000"));
   */
  async startMining(worker: Hex, stake: bigint): Promise<Hex> {
    return this.#write(`start worker ${worker} mining`, "startMining", [worker, stake]);
  }

  /**
   * @example
   * await economy.pools.stopMining(worker);
   */
  async stopMining(worker: Hex): Promise<Hex> {
    return this.#write(`stop worker ${worker} mining`, "stopMining", [worker]);
  }

  /**
   * @example
   * await economy.pools.forceStopMining(worker); // the pool's owner
   */
  async forceStopMining(worker: Hex): Promise<Hex> {
    return this.#write(`force worker ${worker} to stop mining`, "forceStopMining", [worker]);
  }

  /**
   * Brings a worker's stake back to its pool after the cool-down (anyone may).
   *
   * @example
   * await economy.pools.reclaim(worker);
   */
  async reclaim(worker: Hex): Promise<Hex> {
    return this.#write(`reclaim the stake of worker ${worker}`, "reclaim", [worker]);
  }

  /**
   * @example
   * const { totalStake, freeStake } = await economy.pools.getPool(1n);
   */
  async getPool(poolId: bigint): Promise<PoolRecord> {
    const p = await this.read(`read pool ${poolId}`, () =>
      this.public.readContract({
        address: this.addresses.stakePool,
        // With every economy error, so that an unknown pool decodes (its type is the pool's ABI).
        abi: withEconomyErrors(stakePoolAbi) as typeof stakePoolAbi,
        functionName: "getPool",
        args: [poolId],
      }),
    );
    return { id: poolId, ...p };
  }

  /**
   * @example
   * const count = await economy.pools.poolCount();
   */
  async poolCount(): Promise<bigint> {
    return this.read("count pools", () =>
      this.public.readContract({
        address: this.addresses.stakePool,
        abi: stakePoolAbi,
        functionName: "poolCount",
      }),
    );
  }

  /**
   * Every pool, in id order.
   *
   * @example
   * for (const pool of await economy.pools.listPools()) console.log(pool.id, formatVeil(pool.totalStake));
   */
  async listPools(): Promise<PoolRecord[]> {
    const count = await this.poolCount();
    return Promise.all(Array.from({ length: Number(count) }, (_, i) => this.getPool(BigInt(i + 1))));
  }

  /**
   * Shares held (not queued) and queued by `delegator`, and their value in tokens.
   *
   * @example
   * const { shares, queued, value } = await economy.pools.poolPosition(1n, alice);
   */
  async poolPosition(
    poolId: bigint,
    delegator: Hex,
  ): Promise<{ shares: bigint; queued: bigint; value: bigint }> {
    const address = this.addresses.stakePool;
    const abi = stakePoolAbi;
    return this.read(`read the position of ${delegator} in pool ${poolId}`, async () => {
      const [shares, queued, value] = await Promise.all([
        this.public.readContract({ address, abi, functionName: "sharesOf", args: [poolId, delegator] }),
        this.public.readContract({ address, abi, functionName: "queuedSharesOf", args: [poolId, delegator] }),
        this.public.readContract({ address, abi, functionName: "valueOf", args: [poolId, delegator] }),
      ]);
      return { shares, queued, value };
    });
  }

  /**
   * @example
   * const waiting = await economy.pools.poolQueue(1n);
   */
  async poolQueue(poolId: bigint, max = 100n): Promise<QueuedWithdrawal[]> {
    const entries = await this.read(`read the withdrawal queue of pool ${poolId}`, () =>
      this.public.readContract({
        address: this.addresses.stakePool,
        abi: stakePoolAbi,
        functionName: "queue",
        args: [poolId, max],
      }),
    );
    return entries.map((e) => ({ ...e }));
  }

  /**
   * The pool a worker is bound to (0n: none) and the stake assigned to it.
   *
   * @example
   * const { poolId, stake } = await economy.pools.workerStake(worker);
   */
  async workerStake(worker: Hex): Promise<{ poolId: bigint; stake: bigint }> {
    const address = this.addresses.stakePool;
    const abi = stakePoolAbi;
    return this.read(`read the stake of worker ${worker}`, async () => {
      const [poolId, stake] = await Promise.all([
        this.public.readContract({ address, abi, functionName: "poolOfWorker", args: [worker] }),
        this.public.readContract({ address, abi, functionName: "stakeOfWorker", args: [worker] }),
      ]);
      return { poolId, stake };
    });
  }

  async #write<N extends WriteName<typeof stakePoolAbi>>(
    action: string,
    functionName: N,
    args: WriteArgs<typeof stakePoolAbi, N>,
  ): Promise<Hex> {
    return (await this.send(action, this.addresses.stakePool, stakePoolAbi, functionName, args)).hash;
  }
}
