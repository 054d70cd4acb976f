import type { Hex, LocalAccount } from "viem";
import { rewardsAbi } from "../abi.ts";
import { asLocalAccount, EconomyContractClient, type WriteArgs, type WriteName } from "./base.ts";
import { challenges, heartbeatDigest } from "./digests.ts";

/** Mining states (Rewards.sol). */
export const MiningState = { Idle: 0, Working: 1, Unresponsive: 2, CoolingDown: 3 } as const;
/** Why a mining session ended (Rewards.sol). */
export const EndReason = { None: 0, Stopped: 1, Unattested: 2, Slashed: 3 } as const;

export type MinerRecord = {
  state: number;
  endReason: number;
  session: bigint;
  lastChallenge: bigint;
  updatedAt: bigint;
  coolingSince: bigint;
  performance: bigint;
  stake: bigint;
  value: bigint;
  share: bigint;
  rewardDebt: bigint;
};

/**
 * Mining rewards (Rewards.sol): miners' state, challenges and heartbeats, reports, settlement.
 *
 * @example
 * const miner = await economy.rewards.getMiner(worker);
 * if (miner.state === MiningState.Working) await economy.rewards.settleRewards(worker);
 */
export class RewardsClient extends EconomyContractClient {
  /**
   * @example
   * const { state, session, stake } = await economy.rewards.getMiner(worker);
   */
  async getMiner(worker: Hex): Promise<MinerRecord> {
    const m = await this.read(`read the mining state of ${worker}`, () =>
      this.public.readContract({
        address: this.addresses.rewards,
        abi: rewardsAbi,
        functionName: "getMiner",
        args: [worker],
      }),
    );
    return { ...m };
  }

  /**
   * @example
   * formatVeil(await economy.rewards.pendingRewards(worker));
   */
  async pendingRewards(worker: Hex): Promise<bigint> {
    return this.read(`read the pending rewards of ${worker}`, () =>
      this.public.readContract({
        address: this.addresses.rewards,
        abi: rewardsAbi,
        functionName: "pendingRewards",
        args: [worker],
      }),
    );
  }

  /**
   * The rewards contract's global state: total share, accumulator, emission it minted.
   *
   * @example
   * const { totalMinted } = await economy.rewards.rewardTotals();
   */
  async rewardTotals(): Promise<{ totalShares: bigint; accRewardPerShare: bigint; totalMinted: bigint }> {
    const address = this.addresses.rewards;
    const abi = rewardsAbi;
    return this.read("read the rewards totals", async () => {
      const [totalShares, accRewardPerShare, totalMinted] = await Promise.all([
        this.public.readContract({ address, abi, functionName: "totalShares" }),
        this.public.readContract({ address, abi, functionName: "accRewardPerShare" }),
        this.public.readContract({ address, abi, functionName: "totalMinted" }),
      ]);
      return { totalShares, accRewardPerShare, totalMinted };
    });
  }

  /**
   * `sqrt(V² + (2·P·conf)²)` as the contract computes it.
   *
   * @example
   * const share = await economy.rewards.shareFor(parseVeil("1000"), 100n, 2);
   */
  async shareFor(value: bigint, performance: bigint, confidenceLevel: number): Promise<bigint> {
    return this.read("compute a mining share", () =>
      this.public.readContract({
        address: this.addresses.rewards,
        abi: rewardsAbi,
        functionName: "shareFor",
        args: [value, performance, confidenceLevel],
      }),
    );
  }

  /**
   * @example
   * if (await economy.rewards.isChallenged(worker, blockNumber)) console.log("answer it");
   */
  async isChallenged(worker: Hex, blockNumber: bigint): Promise<boolean> {
    return this.read(`check the challenge of block ${blockNumber}`, () =>
      this.public.readContract({
        address: this.addresses.rewards,
        abi: rewardsAbi,
        functionName: "isChallenged",
        args: [worker, blockNumber],
      }),
    );
  }

  /**
   * Blocks in [from, to] that challenge `worker`, computed here from their hashes.
   *
   * @example
   * const blocks = await economy.rewards.findChallenges(worker, 100n, 120n);
   */
  async findChallenges(worker: Hex, fromBlock: bigint, toBlock: bigint): Promise<bigint[]> {
    const target = await this.read("read the rewards' challenge target", () =>
      this.public.readContract({
        address: this.addresses.rewards,
        abi: rewardsAbi,
        functionName: "challengeTarget",
      }),
    );
    const numbers: bigint[] = [];
    for (let b = fromBlock; b <= toBlock; b++) numbers.push(b);
    const blocks = await this.read("read block hashes", () =>
      Promise.all(numbers.map((blockNumber) => this.public.getBlock({ blockNumber }))),
    );
    return blocks.filter((b) => challenges(worker, b.hash, target)).map((b) => b.number);
  }

  /**
   * Signs a heartbeat with the worker's key (for a relayed heartbeat).
   *
   * @example
   * const signature = await economy.rewards.signHeartbeat(workerKey, { session, challengeBlock, performance });
   * await economy.rewards.heartbeat({ worker, challengeBlock, performance, signature });
   */
  async signHeartbeat(
    workerKey: LocalAccount | Hex,
    args: { session: bigint; challengeBlock: bigint; performance: bigint },
  ): Promise<Hex> {
    const worker = asLocalAccount(workerKey);
    const digest = heartbeatDigest({
      chainId: this.connection.config.chainId,
      rewards: this.addresses.rewards,
      worker: worker.address,
      ...args,
    });
    return worker.signMessage({ message: { raw: digest } });
  }

  /**
   * Answers the challenge of `challengeBlock`. Sent by the worker's own key, no signature is
   * needed; relayed by another account, pass the worker's `signature` (signHeartbeat).
   *
   * @example
   * await economy.rewards.heartbeat({ worker, challengeBlock, performance: 100n });
   */
  async heartbeat(args: {
    worker: Hex;
    challengeBlock: bigint;
    performance: bigint;
    signature?: Hex;
  }): Promise<Hex> {
    return this.#write(`heartbeat of worker ${args.worker}`, "heartbeat", [
      args.worker,
      args.challengeBlock,
      args.performance,
      args.signature ?? "0x",
    ]);
  }

  /**
   * @example
   * await economy.rewards.reportUnresponsive(worker, missedChallengeBlock);
   */
  async reportUnresponsive(worker: Hex, challengeBlock: bigint): Promise<Hex> {
    return this.#write(`report worker ${worker} unresponsive`, "reportUnresponsive", [
      worker,
      challengeBlock,
    ]);
  }

  /**
   * @example
   * await economy.rewards.reportUnattested(worker);
   */
  async reportUnattested(worker: Hex): Promise<Hex> {
    return this.#write(`report worker ${worker} unattested`, "reportUnattested", [worker]);
  }

  /**
   * Pays a working worker's pending rewards to its pool.
   *
   * @example
   * await economy.rewards.settleRewards(worker);
   */
  async settleRewards(worker: Hex): Promise<Hex> {
    return this.#write(`settle the rewards of ${worker}`, "settle", [worker]);
  }

  async #write<N extends WriteName<typeof rewardsAbi>>(
    action: string,
    functionName: N,
    args: WriteArgs<typeof rewardsAbi, N>,
  ): Promise<Hex> {
    return (await this.send(action, this.addresses.rewards, rewardsAbi, functionName, args)).hash;
  }
}
