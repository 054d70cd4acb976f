import { createHash } from "node:crypto";
import type { Hex, LocalAccount } from "viem";
import { rewardsAbi } from "../chain/abi.ts";
import { challenges, MiningState, VeilEconomy } from "../chain/economy-client.ts";
import type { NetworkFile } from "../network/config.ts";

/**
 * A rough performance score: how many SHA-256 rounds of 1 KiB this machine does in 50 ms,
 * divided by 10. Rewards clamp it to their `maxPerformance`.
 */
export function benchmarkPerformance(): bigint {
  const data = Buffer.alloc(1024, 7);
  const end = performance.now() + 50;
  let rounds = 0;
  while (performance.now() < end) {
    createHash("sha256").update(data).digest();
    rounds++;
  }
  return BigInt(Math.max(1, Math.floor(rounds / 10)));
}

export type HeartbeatOptions = {
  network: NetworkFile;
  /** The worker's identity key: it signs each answer. */
  worker: LocalAccount;
  /** The operator's key: it relays the signed answers (and pays their gas). */
  operatorKey: Hex;
  log: (message: string) => void;
  /** How often to look at new blocks (default 1 s). */
  pollMs?: number;
};

/**
 * Answers the worker's on-chain heartbeat challenges while it is mining: a block b challenges
 * worker w when `keccak(w) XOR blockhash(b) ≤ target`, and the answer must land in blocks
 * b+1 … b+window (Rewards.heartbeat). The worker signs, the operator relays. A worker that is not
 * mining (idle, stopped, cooling down) just watches; one left unanswered would be reported
 * unresponsive and lose what accrued.
 */
export class HeartbeatLoop {
  private readonly economy: VeilEconomy;
  private readonly options: HeartbeatOptions;
  private timer: NodeJS.Timeout | undefined;
  private checkedUpTo = 0n;
  private readonly performanceScore = benchmarkPerformance();
  /** Heartbeats that landed since start (for status and tests). */
  answered = 0;

  constructor(options: HeartbeatOptions) {
    const economy = options.network.chain.economy;
    if (!economy) throw new Error("HeartbeatLoop: this network has no economy");
    this.options = options;
    this.economy = new VeilEconomy(
      { ...options.network.chain, economy },
      { account: options.operatorKey, pollingIntervalMs: 100 },
    );
  }

  start(): void {
    const tick = async () => {
      try {
        await this.poll();
      } catch (err) {
        this.options.log(`heartbeat: ${(err as Error).message.split("\n")[0]}`);
      }
      this.timer = setTimeout(tick, this.options.pollMs ?? 1000);
      this.timer.unref();
    };
    void tick();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
  }

  /** Looks at the blocks since the last poll and answers the open challenges among them. */
  async poll(): Promise<void> {
    const worker = this.options.worker.address;
    const head = await this.economy.public.getBlockNumber();
    const miner = await this.economy.getMiner(worker);
    if (miner.state !== MiningState.Working) {
      this.checkedUpTo = head;
      return;
    }
    const rewards = this.economy.addresses.rewards;
    const [target, window] = await Promise.all([
      this.economy.public.readContract({
        address: rewards,
        abi: rewardsAbi,
        functionName: "challengeTarget",
      }),
      this.economy.public.readContract({
        address: rewards,
        abi: rewardsAbi,
        functionName: "challengeWindow",
      }),
    ]);
    // Only challenges still answerable a few blocks from now (the chain mines on its own while
    // the answer is signed and sent): b ≥ head + 3 − window.
    let from = this.checkedUpTo + 1n;
    if (head + 3n > window && from < head + 3n - window) from = head + 3n - window;
    if (from <= miner.lastChallenge) from = miner.lastChallenge + 1n;
    for (let b = from; b <= head; b++) {
      const block = await this.economy.public.getBlock({ blockNumber: b });
      if (!challenges(worker, block.hash, target)) continue;
      const signature = await this.economy.signHeartbeat(this.options.worker, {
        session: miner.session,
        challengeBlock: b,
        performance: this.performanceScore,
      });
      const hash = await this.economy.heartbeat({
        worker,
        challengeBlock: b,
        performance: this.performanceScore,
        signature,
      });
      this.answered++;
      this.options.log(`heartbeat: answered the challenge of block ${b} (${hash})`);
    }
    this.checkedUpTo = head;
  }
}

/** The worker daemon's hook: answers heartbeats when the network has an economy. */
export function startHeartbeats(options: HeartbeatOptions): HeartbeatLoop | undefined {
  if (!options.network.chain.economy) return undefined;
  const loop = new HeartbeatLoop(options);
  loop.start();
  return loop;
}
