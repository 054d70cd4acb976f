import {
  type Abi,
  type Account,
  createPublicClient,
  createWalletClient,
  encodeAbiParameters,
  encodeFunctionData,
  formatUnits,
  type Hex,
  http,
  keccak256,
  type LocalAccount,
  type PublicClient,
  parseEventLogs,
  parseSignature,
  parseUnits,
  signatureToCompactSignature,
  type Transport,
  toBytes,
  type Chain as ViemChain,
  type WalletClient,
} from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { typedDataDigestHex } from "../crypto/typed-data.ts";
import {
  feeEscrowAbi,
  rewardsAbi,
  slashingAbi,
  stakePoolAbi,
  vaultAbi,
  vaultFactoryAbi,
  veilGovernorAbi,
  veilTimelockAbi,
  veilTokenAbi,
} from "./abi.ts";
import { type ChainConfig, VeilChain } from "./client.ts";
import type { EconomyAddresses } from "./economy-deploy.ts";
import { chainError } from "./errors.ts";
import { gasWithHeadroom } from "./gas.ts";
import { signTyped } from "./typed-signing.ts";

export type { EconomyAddresses } from "./economy-deploy.ts";

/** A chain config plus where the economy's contracts are. */
export type EconomyConfig = ChainConfig & { economy: EconomyAddresses };

// ── token units ──────────────────────────────────────────────────────────────────────────────

export const VEIL_DECIMALS = 18;

/** "1.5" → 1500000000000000000n base units. Throws on anything that is not a decimal number. */
export function parseVeil(amount: string): bigint {
  if (!/^\d+(\.\d+)?$/.test(amount.trim())) throw new Error(`not a VEIL amount: "${amount}"`);
  return parseUnits(amount.trim(), VEIL_DECIMALS);
}

/** 1500000000000000000n → "1.5" (all significant decimals; `maxDecimals` rounds down). */
export function formatVeil(amount: bigint, options: { maxDecimals?: number } = {}): string {
  const s = formatUnits(amount, VEIL_DECIMALS);
  if (options.maxDecimals === undefined || !s.includes(".")) return s;
  const [whole, frac = ""] = s.split(".");
  const cut = frac.slice(0, options.maxDecimals).replace(/0+$/, "");
  return cut ? `${whole}.${cut}` : (whole ?? "0");
}

// ── records ──────────────────────────────────────────────────────────────────────────────────

/** Mining states (Rewards.sol). */
export const MiningState = { Idle: 0, Working: 1, Unresponsive: 2, CoolingDown: 3 } as const;
/** Why a mining session ended (Rewards.sol). */
export const EndReason = { None: 0, Stopped: 1, Unattested: 2, Slashed: 3 } as const;
/** Governor proposal states (OpenZeppelin IGovernor.ProposalState). */
export const ProposalState = {
  Pending: 0,
  Active: 1,
  Canceled: 2,
  Defeated: 3,
  Succeeded: 4,
  Queued: 5,
  Expired: 6,
  Executed: 7,
} as const;
export const VoteType = { Against: 0, For: 1, Abstain: 2 } as const;

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

export type VaultRecord = {
  address: Hex;
  owner: Hex;
  commissionBps: number;
  totalShares: bigint;
  totalAssets: bigint;
  highWaterPrice: bigint;
  pools: readonly bigint[];
  queueLength: bigint;
};

export type EscrowAccount = { balance: bigint; requested: bigint; unlockAt: bigint };

/** A payer's cumulative fee voucher for one (payer, worker, agent) channel, signed (EIP-2098 compact). */
export type Voucher = { payer: Hex; agentId: bigint; calls: bigint; amount: bigint; r: Hex; vs: Hex };

/** A receipt a worker's own key signs for a response (the evidence of equivocation). */
export type WorkerReceipt = {
  agentId: bigint;
  requestId: Hex;
  inputHash: Hex;
  outputHash: Hex;
  signature: Hex;
};

/** A call the governor runs through the timelock. */
export type ProposalAction = { target: Hex; value: bigint; data: Hex };

/** Every governance parameter of the economy, as one value each. */
export type EconomyParameters = {
  stakePool: { coolDown: bigint; maxQueueWait: bigint; minContribution: bigint };
  rewards: {
    rewardPerSecond: bigint;
    treasuryBps: number;
    challengeTarget: bigint;
    challengeWindow: bigint;
    minStake: bigint;
    valueGrowthBpsPerDay: number;
    maxValueBps: number;
    valueDecayBpsPerDay: number;
    maxPerformance: bigint;
    confidenceBps: number[];
  };
  feeEscrow: { treasuryBps: number; withdrawDelay: bigint };
  slashing: { slashBps: number; reporterBps: number };
  vaultFactory: { maxQueueWait: bigint };
};

/** One parameter change, as the owner (the timelock, or a dev governance account) makes it. */
export type ParameterChange =
  | { parameter: "stakePool.coolDown"; value: bigint }
  | { parameter: "stakePool.maxQueueWait"; value: bigint }
  | { parameter: "stakePool.minContribution"; value: bigint }
  | { parameter: "rewards.rewardPerSecond"; value: bigint }
  | { parameter: "rewards.treasuryBps"; value: number }
  | { parameter: "rewards.challengeTarget"; value: bigint }
  | { parameter: "rewards.challengeWindow"; value: bigint }
  | { parameter: "rewards.minStake"; value: bigint }
  | {
      parameter: "rewards.valueParameters";
      value: { growthBpsPerDay: number; maxBps: number; decayBpsPerDay: number };
    }
  | { parameter: "rewards.maxPerformance"; value: bigint }
  | { parameter: "rewards.confidenceBps"; value: readonly [number, number, number, number, number] }
  | { parameter: "rewards.treasury"; value: Hex }
  | { parameter: "feeEscrow.treasuryBps"; value: number }
  | { parameter: "feeEscrow.withdrawDelay"; value: bigint }
  | { parameter: "feeEscrow.treasury"; value: Hex }
  | { parameter: "slashing.slashBps"; value: number }
  | { parameter: "slashing.reporterBps"; value: number }
  | { parameter: "slashing.treasury"; value: Hex }
  | { parameter: "vaultFactory.maxQueueWait"; value: bigint }
  | { parameter: "token.minter"; value: Hex };

// Errors of every economy contract, so that a revert bubbling up from another contract (a token
// transfer inside a pool, a pool inside a vault) still decodes to its name.
const ERRORS = [
  ...veilTokenAbi,
  ...stakePoolAbi,
  ...rewardsAbi,
  ...feeEscrowAbi,
  ...slashingAbi,
  ...vaultAbi,
  ...vaultFactoryAbi,
  ...veilGovernorAbi,
  ...veilTimelockAbi,
].filter((item) => item.type === "error");
const withErrors = (abi: Abi | readonly unknown[]): readonly unknown[] => [...abi, ...ERRORS];

// ── digests, computed here exactly as the contracts compute them ───────────────────────────

/** Rewards.heartbeatDigest: what a worker's key signs (EIP-191) to answer a challenge. */
export function heartbeatDigest(args: {
  chainId: number;
  rewards: Hex;
  worker: Hex;
  session: bigint;
  challengeBlock: bigint;
  performance: bigint;
}): Hex {
  return keccak256(
    encodeAbiParameters(
      [
        { type: "string" },
        { type: "uint256" },
        { type: "address" },
        { type: "address" },
        { type: "uint64" },
        { type: "uint64" },
        { type: "uint64" },
      ],
      [
        "veil.heartbeat.v1",
        BigInt(args.chainId),
        args.rewards,
        args.worker,
        args.session,
        args.challengeBlock,
        args.performance,
      ],
    ),
  );
}

/** FeeEscrow.voucherDigest: the EIP-712 digest of the `Voucher` a payer (or its signer) signs. */
export function voucherDigest(args: {
  chainId: number;
  feeEscrow: Hex;
  payer: Hex;
  worker: Hex;
  agentId: bigint;
  calls: bigint;
  amount: bigint;
}): Hex {
  return typedDataDigestHex({ chainId: args.chainId, verifyingContract: args.feeEscrow }, "Voucher", {
    payer: args.payer,
    worker: args.worker,
    agentId: args.agentId,
    calls: args.calls,
    amount: args.amount,
  });
}

/** Slashing.receiptDigest: the EIP-712 digest of the `WorkerReceipt` a worker's key signs. */
export function workerReceiptDigest(args: {
  chainId: number;
  slashing: Hex;
  worker: Hex;
  agentId: bigint;
  requestId: Hex;
  inputHash: Hex;
  outputHash: Hex;
}): Hex {
  return typedDataDigestHex({ chainId: args.chainId, verifyingContract: args.slashing }, "WorkerReceipt", {
    worker: args.worker,
    agentId: args.agentId,
    requestId: args.requestId,
    inputHash: args.inputHash,
    outputHash: args.outputHash,
  });
}

/** Whether `blockHash` challenges `worker` under `target` (Rewards.isChallenged, off chain). */
export function challenges(worker: Hex, blockHash: Hex, target: bigint): boolean {
  const h = BigInt(keccak256(worker));
  return (h ^ BigInt(blockHash)) <= target;
}

const asAccount = (signer: LocalAccount | Hex): LocalAccount =>
  typeof signer === "string" ? privateKeyToAccount(signer) : signer;

/**
 * Veil's typed view of the economy: the token, stake pools, vaults, mining rewards, fee escrow,
 * slashing and governance, over viem. Amounts are bigints in base units (see parseVeil and
 * formatVeil). Every write simulates first, returns the transaction hash once it is mined, and
 * turns reverts into VeilErrors with a code and a hint (errors.ts).
 */
export class VeilEconomy {
  readonly config: EconomyConfig;
  /** The registries' client, with the same account (its `write` serves raw calls in tests and tools). */
  readonly chain: VeilChain;
  /**
   * Reads and simulations. Hardhat reports a revert as an internal JSON-RPC error, which viem
   * retries after 150 ms by default; a short retry delay keeps a refusal fast (a tenth of that)
   * while still riding out a transient failure of a remote endpoint.
   */
  readonly public: PublicClient<Transport, ViemChain>;
  private readonly wallet: WalletClient<Transport, ViemChain, Account> | undefined;
  private readonly pollingMs: number;

  constructor(
    config: EconomyConfig,
    options: {
      account?: Account | Hex;
      pollingIntervalMs?: number;
      /** Send reads made together as one JSON-RPC batch (fewer round trips; the endpoint must accept batches). */
      batch?: boolean;
    } = {},
  ) {
    this.config = config;
    this.chain = new VeilChain(config, {
      ...(options.account ? { account: options.account } : {}),
      ...(options.pollingIntervalMs ? { pollingIntervalMs: options.pollingIntervalMs } : {}),
    });
    this.pollingMs = options.pollingIntervalMs ?? 250;
    const chain = this.chain.public.chain;
    const transport = (batch: boolean) =>
      http(config.rpcUrl, {
        retryCount: 1,
        retryDelay: 15,
        timeout: 15_000,
        ...(batch ? { batch: { wait: 0 } } : {}),
      });
    this.public = createPublicClient({
      chain,
      transport: transport(options.batch ?? false),
      pollingInterval: this.pollingMs,
    });
    const account = this.chain.wallet?.account;
    this.wallet = account
      ? createWalletClient({ chain, transport: transport(false), account, pollingInterval: this.pollingMs })
      : undefined;
  }

  get account(): Hex {
    return this.chain.account;
  }

  get addresses(): EconomyAddresses {
    return this.config.economy;
  }

  private async read<T>(action: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw chainError(err, action, this.config.rpcUrl);
    }
  }

  /**
   * Simulates, sends and waits for the receipt, as VeilChain.write does, with every economy error
   * in the ABI and this client's polling interval and retry delay.
   */
  private async send(
    action: string,
    address: Hex,
    abi: Abi | readonly unknown[],
    functionName: string,
    args: readonly unknown[],
  ): Promise<{ hash: Hex; logs: readonly { address: Hex; topics: readonly Hex[]; data: Hex }[] }> {
    const wallet = this.wallet;
    if (!wallet) throw new Error(`cannot ${action}: this economy client has no account`);
    try {
      // Simulated first, on top of the latest block, so that a refusal decodes (against every
      // economy error) before anything is signed or sent.
      const call = { address, abi: withErrors(abi), functionName, args, account: wallet.account };
      const { request } = await this.public.simulateContract(call as never);
      const estimate = await this.public.estimateContractGas(call as never);
      const hash = await wallet.writeContract({
        ...(request as object),
        gas: gasWithHeadroom(estimate),
      } as never);
      const receipt = await this.public.waitForTransactionReceipt({ hash, pollingInterval: this.pollingMs });
      if (receipt.status !== "success") throw new Error(`transaction ${hash} reverted`);
      return { hash, logs: receipt.logs as never };
    } catch (err) {
      throw chainError(err, action, this.config.rpcUrl);
    }
  }

  // ── token ──────────────────────────────────────────────────────────────────────────────────

  async balanceOf(account: Hex): Promise<bigint> {
    return this.read(`read the VEIL balance of ${account}`, () =>
      this.public.readContract({
        address: this.addresses.token,
        abi: veilTokenAbi,
        functionName: "balanceOf",
        args: [account],
      }),
    );
  }

  async totalSupply(): Promise<bigint> {
    return this.read("read the VEIL supply", () =>
      this.public.readContract({
        address: this.addresses.token,
        abi: veilTokenAbi,
        functionName: "totalSupply",
      }),
    );
  }

  /** Genesis supply, emission cap, emission minted so far, and the minter. */
  async tokenInfo(): Promise<{ genesisSupply: bigint; emissionCap: bigint; emitted: bigint; minter: Hex }> {
    const address = this.addresses.token;
    const abi = veilTokenAbi;
    return this.read("read the token", async () => {
      const [genesisSupply, emissionCap, emitted, minter] = await Promise.all([
        this.public.readContract({ address, abi, functionName: "genesisSupply" }),
        this.public.readContract({ address, abi, functionName: "emissionCap" }),
        this.public.readContract({ address, abi, functionName: "emitted" }),
        this.public.readContract({ address, abi, functionName: "minter" }),
      ]);
      return { genesisSupply, emissionCap, emitted, minter };
    });
  }

  async allowance(owner: Hex, spender: Hex): Promise<bigint> {
    return this.read("read an allowance", () =>
      this.public.readContract({
        address: this.addresses.token,
        abi: veilTokenAbi,
        functionName: "allowance",
        args: [owner, spender],
      }),
    );
  }

  async transfer(to: Hex, amount: bigint): Promise<Hex> {
    const { hash } = await this.send(
      `transfer VEIL to ${to}`,
      this.addresses.token,
      veilTokenAbi,
      "transfer",
      [to, amount],
    );
    return hash;
  }

  async approve(spender: Hex, amount: bigint): Promise<Hex> {
    const { hash } = await this.send(`approve ${spender}`, this.addresses.token, veilTokenAbi, "approve", [
      spender,
      amount,
    ]);
    return hash;
  }

  /** Approves `spender` for `amount` unless the allowance already covers it. */
  async ensureAllowance(spender: Hex, amount: bigint): Promise<void> {
    if ((await this.allowance(this.account, spender)) < amount) await this.approve(spender, amount);
  }

  /**
   * Signs an EIP-2612 permit as `owner`: lets `spender` move `value` of the owner's VEIL until
   * `deadline` (seconds), without a transaction from the owner.
   */
  async signPermit(
    owner: LocalAccount | Hex,
    args: { spender: Hex; value: bigint; deadline: bigint },
  ): Promise<{ owner: Hex; spender: Hex; value: bigint; deadline: bigint; v: number; r: Hex; s: Hex }> {
    const account = asAccount(owner);
    const nonce = await this.read("read the permit nonce", () =>
      this.public.readContract({
        address: this.addresses.token,
        abi: veilTokenAbi,
        functionName: "nonces",
        args: [account.address],
      }),
    );
    const signature = await account.signTypedData({
      domain: {
        name: "Veil",
        version: "1",
        chainId: this.config.chainId,
        verifyingContract: this.addresses.token,
      },
      types: {
        Permit: [
          { name: "owner", type: "address" },
          { name: "spender", type: "address" },
          { name: "value", type: "uint256" },
          { name: "nonce", type: "uint256" },
          { name: "deadline", type: "uint256" },
        ],
      },
      primaryType: "Permit",
      message: {
        owner: account.address,
        spender: args.spender,
        value: args.value,
        nonce,
        deadline: args.deadline,
      },
    });
    const { r, s, yParity } = parseSignature(signature);
    return { owner: account.address, ...args, v: 27 + (yParity ?? 0), r, s };
  }

  /** Submits a signed permit (anyone may). */
  async permit(p: { owner: Hex; spender: Hex; value: bigint; deadline: bigint; v: number; r: Hex; s: Hex }) {
    const { hash } = await this.send(`permit ${p.spender}`, this.addresses.token, veilTokenAbi, "permit", [
      p.owner,
      p.spender,
      p.value,
      p.deadline,
      p.v,
      p.r,
      p.s,
    ]);
    return hash;
  }

  /** Delegates the account's votes (to itself, to vote directly). */
  async delegateVotes(to: Hex): Promise<Hex> {
    const { hash } = await this.send(
      `delegate votes to ${to}`,
      this.addresses.token,
      veilTokenAbi,
      "delegate",
      [to],
    );
    return hash;
  }

  async votesOf(account: Hex): Promise<bigint> {
    return this.read(`read the votes of ${account}`, () =>
      this.public.readContract({
        address: this.addresses.token,
        abi: veilTokenAbi,
        functionName: "getVotes",
        args: [account],
      }),
    );
  }

  // ── stake pools ────────────────────────────────────────────────────────────────────────────

  async createPool(commissionBps: number): Promise<{ poolId: bigint; hash: Hex }> {
    const { hash, logs } = await this.send(
      "create a stake pool",
      this.addresses.stakePool,
      stakePoolAbi,
      "createPool",
      [commissionBps],
    );
    const [event] = parseEventLogs({ abi: stakePoolAbi, logs: logs as never, eventName: "PoolCreated" });
    if (!event) throw new Error(`create a stake pool: no PoolCreated event in ${hash}`);
    return { poolId: event.args.poolId, hash };
  }

  async setPoolCommission(poolId: bigint, commissionBps: number): Promise<Hex> {
    const { hash } = await this.send(
      `set the commission of pool ${poolId}`,
      this.addresses.stakePool,
      stakePoolAbi,
      "setCommission",
      [poolId, commissionBps],
    );
    return hash;
  }

  /** Contributes `amount` to pool `poolId` (approving the pool contract first if needed). */
  async contribute(poolId: bigint, amount: bigint): Promise<Hex> {
    await this.ensureAllowance(this.addresses.stakePool, amount);
    const { hash } = await this.send(
      `contribute to pool ${poolId}`,
      this.addresses.stakePool,
      stakePoolAbi,
      "contribute",
      [poolId, amount],
    );
    return hash;
  }

  /** Withdraws `shares` from pool `poolId`: paid now from free stake, or queued. */
  async withdrawFromPool(poolId: bigint, shares: bigint): Promise<Hex> {
    const { hash } = await this.send(
      `withdraw from pool ${poolId}`,
      this.addresses.stakePool,
      stakePoolAbi,
      "withdraw",
      [poolId, shares],
    );
    return hash;
  }

  async processPoolQueue(poolId: bigint, max = 8n): Promise<Hex> {
    const { hash } = await this.send(
      `process the withdrawal queue of pool ${poolId}`,
      this.addresses.stakePool,
      stakePoolAbi,
      "processQueue",
      [poolId, max],
    );
    return hash;
  }

  /** Pays `amount` of this account's tokens to the pool of `worker` as a reward (approving first if needed). */
  async creditReward(worker: Hex, amount: bigint): Promise<Hex> {
    await this.ensureAllowance(this.addresses.stakePool, amount);
    const { hash } = await this.send(
      `credit a reward to the pool of ${worker}`,
      this.addresses.stakePool,
      stakePoolAbi,
      "creditReward",
      [worker, amount],
    );
    return hash;
  }

  async claimCommission(poolId: bigint, to: Hex = this.account): Promise<Hex> {
    const { hash } = await this.send(
      `claim the commission of pool ${poolId}`,
      this.addresses.stakePool,
      stakePoolAbi,
      "claimCommission",
      [poolId, to],
    );
    return hash;
  }

  async bindWorker(poolId: bigint, worker: Hex): Promise<Hex> {
    const { hash } = await this.send(
      `bind worker ${worker} to pool ${poolId}`,
      this.addresses.stakePool,
      stakePoolAbi,
      "bindWorker",
      [poolId, worker],
    );
    return hash;
  }

  async unbindWorker(worker: Hex): Promise<Hex> {
    const { hash } = await this.send(
      `unbind worker ${worker}`,
      this.addresses.stakePool,
      stakePoolAbi,
      "unbindWorker",
      [worker],
    );
    return hash;
  }

  /** Assigns `stake` of its pool's free stake to `worker` and starts it mining. */
  async startMining(worker: Hex, stake: bigint): Promise<Hex> {
    const { hash } = await this.send(
      `start worker ${worker} mining`,
      this.addresses.stakePool,
      stakePoolAbi,
      "startMining",
      [worker, stake],
    );
    return hash;
  }

  async stopMining(worker: Hex): Promise<Hex> {
    const { hash } = await this.send(
      `stop worker ${worker} mining`,
      this.addresses.stakePool,
      stakePoolAbi,
      "stopMining",
      [worker],
    );
    return hash;
  }

  async forceStopMining(worker: Hex): Promise<Hex> {
    const { hash } = await this.send(
      `force worker ${worker} to stop mining`,
      this.addresses.stakePool,
      stakePoolAbi,
      "forceStopMining",
      [worker],
    );
    return hash;
  }

  /** Brings a worker's stake back to its pool after the cool-down (anyone may). */
  async reclaim(worker: Hex): Promise<Hex> {
    const { hash } = await this.send(
      `reclaim the stake of worker ${worker}`,
      this.addresses.stakePool,
      stakePoolAbi,
      "reclaim",
      [worker],
    );
    return hash;
  }

  async getPool(poolId: bigint): Promise<PoolRecord> {
    const p = await this.read(`read pool ${poolId}`, () =>
      this.public.readContract({
        address: this.addresses.stakePool,
        abi: withErrors(stakePoolAbi) as typeof stakePoolAbi,
        functionName: "getPool",
        args: [poolId],
      }),
    );
    return { id: poolId, ...p };
  }

  async poolCount(): Promise<bigint> {
    return this.read("count pools", () =>
      this.public.readContract({
        address: this.addresses.stakePool,
        abi: stakePoolAbi,
        functionName: "poolCount",
      }),
    );
  }

  /** Every pool, in id order. */
  async listPools(): Promise<PoolRecord[]> {
    const count = await this.poolCount();
    return Promise.all(Array.from({ length: Number(count) }, (_, i) => this.getPool(BigInt(i + 1))));
  }

  /** Shares held (not queued) and queued by `delegator`, and their value in tokens. */
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

  /** The pool a worker is bound to (0n: none) and the stake assigned to it. */
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

  // ── vaults ─────────────────────────────────────────────────────────────────────────────────

  async createVault(commissionBps: number): Promise<{ vault: Hex; hash: Hex }> {
    const { hash, logs } = await this.send(
      "create a vault",
      this.addresses.vaultFactory,
      vaultFactoryAbi,
      "createVault",
      [commissionBps],
    );
    const [event] = parseEventLogs({ abi: vaultFactoryAbi, logs: logs as never, eventName: "VaultCreated" });
    if (!event) throw new Error(`create a vault: no VaultCreated event in ${hash}`);
    return { vault: event.args.vault, hash };
  }

  async listVaults(): Promise<readonly Hex[]> {
    return this.read("list vaults", () =>
      this.public.readContract({
        address: this.addresses.vaultFactory,
        abi: vaultFactoryAbi,
        functionName: "vaults",
      }),
    );
  }

  /** Deposits `amount` into `vault` (approving it first if needed). */
  async vaultDeposit(vault: Hex, amount: bigint): Promise<Hex> {
    await this.ensureAllowance(vault, amount);
    const { hash } = await this.send(`deposit into vault ${vault}`, vault, vaultAbi, "deposit", [amount]);
    return hash;
  }

  async vaultWithdraw(vault: Hex, shares: bigint): Promise<Hex> {
    const { hash } = await this.send(`withdraw from vault ${vault}`, vault, vaultAbi, "withdraw", [shares]);
    return hash;
  }

  async vaultProcessQueue(vault: Hex, max = 8n): Promise<Hex> {
    const { hash } = await this.send(`process the queue of vault ${vault}`, vault, vaultAbi, "processQueue", [
      max,
    ]);
    return hash;
  }

  async vaultDelegate(vault: Hex, poolId: bigint, amount: bigint): Promise<Hex> {
    const { hash } = await this.send(
      `delegate vault ${vault} to pool ${poolId}`,
      vault,
      vaultAbi,
      "delegate",
      [poolId, amount],
    );
    return hash;
  }

  async vaultUndelegate(vault: Hex, poolId: bigint, poolShares: bigint): Promise<Hex> {
    const { hash } = await this.send(
      `undelegate vault ${vault} from pool ${poolId}`,
      vault,
      vaultAbi,
      "undelegate",
      [poolId, poolShares],
    );
    return hash;
  }

  async vaultForceUndelegate(vault: Hex, poolId: bigint, poolShares: bigint): Promise<Hex> {
    const { hash } = await this.send(
      `force vault ${vault} out of pool ${poolId}`,
      vault,
      vaultAbi,
      "forceUndelegate",
      [poolId, poolShares],
    );
    return hash;
  }

  async setVaultCommission(vault: Hex, commissionBps: number): Promise<Hex> {
    const { hash } = await this.send(
      `set the commission of vault ${vault}`,
      vault,
      vaultAbi,
      "setCommission",
      [commissionBps],
    );
    return hash;
  }

  async transferVaultOwnership(vault: Hex, newOwner: Hex): Promise<Hex> {
    const { hash } = await this.send(
      `transfer vault ${vault} to ${newOwner}`,
      vault,
      vaultAbi,
      "transferOwnership",
      [newOwner],
    );
    return hash;
  }

  async getVault(vault: Hex): Promise<VaultRecord> {
    const abi = vaultAbi;
    const address = vault;
    return this.read(`read vault ${vault}`, async () => {
      const [owner, commissionBps, totalShares, totalAssets, highWaterPrice, pools, head, tail] =
        await Promise.all([
          this.public.readContract({ address, abi, functionName: "owner" }),
          this.public.readContract({ address, abi, functionName: "commissionBps" }),
          this.public.readContract({ address, abi, functionName: "totalShares" }),
          this.public.readContract({ address, abi, functionName: "totalAssets" }),
          this.public.readContract({ address, abi, functionName: "highWaterPrice" }),
          this.public.readContract({ address, abi, functionName: "pools" }),
          this.public.readContract({ address, abi, functionName: "queueHead" }),
          this.public.readContract({ address, abi, functionName: "queueTail" }),
        ]);
      return {
        address,
        owner,
        commissionBps,
        totalShares,
        totalAssets,
        highWaterPrice,
        pools,
        queueLength: tail - head,
      };
    });
  }

  /** A holder's vault shares (held, queued) and their value in tokens. */
  async vaultPosition(vault: Hex, holder: Hex): Promise<{ shares: bigint; queued: bigint; value: bigint }> {
    const abi = vaultAbi;
    const address = vault;
    return this.read(`read the position of ${holder} in vault ${vault}`, async () => {
      const [shares, queued, value] = await Promise.all([
        this.public.readContract({ address, abi, functionName: "sharesOf", args: [holder] }),
        this.public.readContract({ address, abi, functionName: "queuedSharesOf", args: [holder] }),
        this.public.readContract({ address, abi, functionName: "valueOf", args: [holder] }),
      ]);
      return { shares, queued, value };
    });
  }

  // ── mining rewards ─────────────────────────────────────────────────────────────────────────

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

  /** The rewards contract's global state: total share, accumulator, emission it minted. */
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

  /** `sqrt(V² + (2·P·conf)²)` as the contract computes it. */
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

  /** Blocks in [from, to] that challenge `worker`, computed here from their hashes. */
  async findChallenges(worker: Hex, fromBlock: bigint, toBlock: bigint): Promise<bigint[]> {
    const target = (await this.parameters()).rewards.challengeTarget;
    const numbers: bigint[] = [];
    for (let b = fromBlock; b <= toBlock; b++) numbers.push(b);
    const blocks = await this.read("read block hashes", () =>
      Promise.all(numbers.map((blockNumber) => this.public.getBlock({ blockNumber }))),
    );
    return blocks.filter((b) => challenges(worker, b.hash, target)).map((b) => b.number);
  }

  /** Signs a heartbeat with the worker's key (for a relayed heartbeat). */
  async signHeartbeat(
    workerKey: LocalAccount | Hex,
    args: { session: bigint; challengeBlock: bigint; performance: bigint },
  ): Promise<Hex> {
    const worker = asAccount(workerKey);
    const digest = heartbeatDigest({
      chainId: this.config.chainId,
      rewards: this.addresses.rewards,
      worker: worker.address,
      ...args,
    });
    return worker.signMessage({ message: { raw: digest } });
  }

  /**
   * Answers the challenge of `challengeBlock`. Sent by the worker's own key, no signature is
   * needed; relayed by another account, pass the worker's `signature` (signHeartbeat).
   */
  async heartbeat(args: {
    worker: Hex;
    challengeBlock: bigint;
    performance: bigint;
    signature?: Hex;
  }): Promise<Hex> {
    const { hash } = await this.send(
      `heartbeat of worker ${args.worker}`,
      this.addresses.rewards,
      rewardsAbi,
      "heartbeat",
      [args.worker, args.challengeBlock, args.performance, args.signature ?? "0x"],
    );
    return hash;
  }

  async reportUnresponsive(worker: Hex, challengeBlock: bigint): Promise<Hex> {
    const { hash } = await this.send(
      `report worker ${worker} unresponsive`,
      this.addresses.rewards,
      rewardsAbi,
      "reportUnresponsive",
      [worker, challengeBlock],
    );
    return hash;
  }

  async reportUnattested(worker: Hex): Promise<Hex> {
    const { hash } = await this.send(
      `report worker ${worker} unattested`,
      this.addresses.rewards,
      rewardsAbi,
      "reportUnattested",
      [worker],
    );
    return hash;
  }

  /** Pays a working worker's pending rewards to its pool. */
  async settleRewards(worker: Hex): Promise<Hex> {
    const { hash } = await this.send(
      `settle the rewards of ${worker}`,
      this.addresses.rewards,
      rewardsAbi,
      "settle",
      [worker],
    );
    return hash;
  }

  // ── fees ───────────────────────────────────────────────────────────────────────────────────

  /** Deposits `amount` into the escrow of `payer` (default: this account), approving first if needed. */
  async depositEscrow(amount: bigint, payer: Hex = this.account): Promise<Hex> {
    await this.ensureAllowance(this.addresses.feeEscrow, amount);
    const { hash } = await this.send(
      `deposit into the fee escrow of ${payer}`,
      this.addresses.feeEscrow,
      feeEscrowAbi,
      "deposit",
      [payer, amount],
    );
    return hash;
  }

  async requestEscrowWithdrawal(amount: bigint): Promise<Hex> {
    const { hash } = await this.send(
      "request a fee escrow withdrawal",
      this.addresses.feeEscrow,
      feeEscrowAbi,
      "requestWithdrawal",
      [amount],
    );
    return hash;
  }

  async withdrawEscrow(): Promise<Hex> {
    const { hash } = await this.send(
      "withdraw from the fee escrow",
      this.addresses.feeEscrow,
      feeEscrowAbi,
      "withdraw",
      [],
    );
    return hash;
  }

  /** Lets `signer` sign vouchers on this account's escrow, for `agentId` or for any agent. */
  async authorizeSigner(signer: Hex, agentId: bigint | "any"): Promise<Hex> {
    const scope = agentId === "any" ? 2n ** 256n - 1n : agentId;
    const { hash } = await this.send(
      `authorize ${signer} to sign vouchers`,
      this.addresses.feeEscrow,
      feeEscrowAbi,
      "authorizeSigner",
      [signer, scope],
    );
    return hash;
  }

  async revokeSigner(signer: Hex): Promise<Hex> {
    const { hash } = await this.send(
      `revoke voucher signer ${signer}`,
      this.addresses.feeEscrow,
      feeEscrowAbi,
      "revokeSigner",
      [signer],
    );
    return hash;
  }

  async escrowAccount(payer: Hex): Promise<EscrowAccount> {
    const a = await this.read(`read the fee escrow of ${payer}`, () =>
      this.public.readContract({
        address: this.addresses.feeEscrow,
        abi: feeEscrowAbi,
        functionName: "getAccount",
        args: [payer],
      }),
    );
    return { ...a };
  }

  /** What a (payer, worker, agent) channel has been paid so far. */
  async feeChannel(payer: Hex, worker: Hex, agentId: bigint): Promise<{ calls: bigint; amount: bigint }> {
    const c = await this.read("read a fee channel", () =>
      this.public.readContract({
        address: this.addresses.feeEscrow,
        abi: feeEscrowAbi,
        functionName: "getChannel",
        args: [payer, worker, agentId],
      }),
    );
    return { ...c };
  }

  /** Signs a cumulative voucher as `signer` (the payer or a signer it authorized). */
  async signVoucher(
    signer: LocalAccount | Hex,
    args: { payer: Hex; worker: Hex; agentId: bigint; calls: bigint; amount: bigint },
  ): Promise<Voucher> {
    const account = asAccount(signer);
    const signature = await signTyped(
      account,
      { chainId: this.config.chainId, verifyingContract: this.addresses.feeEscrow },
      "Voucher",
      args,
    );
    const { r, yParityAndS } = signatureToCompactSignature(parseSignature(signature));
    return {
      payer: args.payer,
      agentId: args.agentId,
      calls: args.calls,
      amount: args.amount,
      r,
      vs: yParityAndS,
    };
  }

  /** Claims the fees `vouchers` promise to `worker` (anyone may submit). Returns the tx hash. */
  async claimFees(worker: Hex, vouchers: readonly Voucher[]): Promise<Hex> {
    const { hash } = await this.send(
      `claim fees for worker ${worker}`,
      this.addresses.feeEscrow,
      feeEscrowAbi,
      "claim",
      [worker, vouchers],
    );
    return hash;
  }

  // ── slashing ───────────────────────────────────────────────────────────────────────────────

  /** Signs a receipt with a worker's key, as workers do for each response. */
  async signWorkerReceipt(
    workerKey: LocalAccount | Hex,
    receipt: Omit<WorkerReceipt, "signature">,
  ): Promise<WorkerReceipt> {
    const worker = asAccount(workerKey);
    const signature = await signTyped(
      worker,
      { chainId: this.config.chainId, verifyingContract: this.addresses.slashing },
      "WorkerReceipt",
      { worker: worker.address, ...receipt },
    );
    return { ...receipt, signature };
  }

  async reportEquivocation(worker: Hex, a: WorkerReceipt, b: WorkerReceipt): Promise<Hex> {
    const { hash } = await this.send(
      `report equivocation by ${worker}`,
      this.addresses.slashing,
      slashingAbi,
      "reportEquivocation",
      [worker, a, b],
    );
    return hash;
  }

  async reportUnattestedHeartbeat(args: {
    worker: Hex;
    session: bigint;
    challengeBlock: bigint;
    performance: bigint;
    signature: Hex;
  }): Promise<Hex> {
    const { hash } = await this.send(
      `report an unattested heartbeat of ${args.worker}`,
      this.addresses.slashing,
      slashingAbi,
      "reportUnattestedHeartbeat",
      [args.worker, args.session, args.challengeBlock, args.performance, args.signature],
    );
    return hash;
  }

  // ── parameters and governance ──────────────────────────────────────────────────────────────

  async parameters(): Promise<EconomyParameters> {
    const { stakePool, rewards, feeEscrow, slashing, vaultFactory } = this.addresses;
    const r = (address: Hex, abi: Abi, functionName: string, args: readonly unknown[] = []) =>
      this.public.readContract({ address, abi, functionName, args } as never) as Promise<unknown>;
    return this.read("read the economy's parameters", async () => {
      const [sp, rw, fe, sl, vf] = await Promise.all([
        Promise.all(
          ["coolDown", "maxQueueWait", "minContribution"].map((f) => r(stakePool, stakePoolAbi, f)),
        ),
        Promise.all(
          [
            "rewardPerSecond",
            "treasuryBps",
            "challengeTarget",
            "challengeWindow",
            "minStake",
            "valueGrowthBpsPerDay",
            "maxValueBps",
            "valueDecayBpsPerDay",
            "maxPerformance",
          ].map((f) => r(rewards, rewardsAbi, f)),
        ),
        Promise.all(["treasuryBps", "withdrawDelay"].map((f) => r(feeEscrow, feeEscrowAbi, f))),
        Promise.all(["slashBps", "reporterBps"].map((f) => r(slashing, slashingAbi, f))),
        r(vaultFactory, vaultFactoryAbi, "maxQueueWait"),
      ]);
      const confidenceBps = await Promise.all(
        [0n, 1n, 2n, 3n, 4n].map((i) => r(rewards, rewardsAbi, "confidenceBps", [i]) as Promise<number>),
      );
      const [coolDown, maxQueueWait, minContribution] = sp as bigint[];
      const [
        rewardPerSecond,
        treasuryBps,
        challengeTarget,
        challengeWindow,
        minStake,
        growth,
        maxV,
        decay,
        maxP,
      ] = rw as [bigint, number, bigint, bigint, bigint, number, number, number, bigint];
      return {
        stakePool: { coolDown: coolDown!, maxQueueWait: maxQueueWait!, minContribution: minContribution! },
        rewards: {
          rewardPerSecond,
          treasuryBps,
          challengeTarget,
          challengeWindow,
          minStake,
          valueGrowthBpsPerDay: growth,
          maxValueBps: maxV,
          valueDecayBpsPerDay: decay,
          maxPerformance: maxP,
          confidenceBps,
        },
        feeEscrow: { treasuryBps: fe[0] as number, withdrawDelay: fe[1] as bigint },
        slashing: { slashBps: sl[0] as number, reporterBps: sl[1] as number },
        vaultFactory: { maxQueueWait: vf as bigint },
      };
    });
  }

  /** The contract call that makes `change`. */
  private parameterCall(change: ParameterChange): {
    target: Hex;
    abi: Abi;
    functionName: string;
    args: readonly unknown[];
  } {
    const a = this.addresses;
    const c = (target: Hex, abi: Abi, functionName: string, args: readonly unknown[]) => ({
      target,
      abi,
      functionName,
      args,
    });
    switch (change.parameter) {
      case "stakePool.coolDown":
        return c(a.stakePool, stakePoolAbi, "setCoolDown", [change.value]);
      case "stakePool.maxQueueWait":
        return c(a.stakePool, stakePoolAbi, "setMaxQueueWait", [change.value]);
      case "stakePool.minContribution":
        return c(a.stakePool, stakePoolAbi, "setMinContribution", [change.value]);
      case "rewards.rewardPerSecond":
        return c(a.rewards, rewardsAbi, "setRewardPerSecond", [change.value]);
      case "rewards.treasuryBps":
        return c(a.rewards, rewardsAbi, "setTreasuryBps", [change.value]);
      case "rewards.challengeTarget":
        return c(a.rewards, rewardsAbi, "setChallengeTarget", [change.value]);
      case "rewards.challengeWindow":
        return c(a.rewards, rewardsAbi, "setChallengeWindow", [change.value]);
      case "rewards.minStake":
        return c(a.rewards, rewardsAbi, "setMinStake", [change.value]);
      case "rewards.valueParameters":
        return c(a.rewards, rewardsAbi, "setValueParameters", [
          change.value.growthBpsPerDay,
          change.value.maxBps,
          change.value.decayBpsPerDay,
        ]);
      case "rewards.maxPerformance":
        return c(a.rewards, rewardsAbi, "setMaxPerformance", [change.value]);
      case "rewards.confidenceBps":
        return c(a.rewards, rewardsAbi, "setConfidenceBps", [change.value]);
      case "rewards.treasury":
        return c(a.rewards, rewardsAbi, "setTreasury", [change.value]);
      case "feeEscrow.treasuryBps":
        return c(a.feeEscrow, feeEscrowAbi, "setTreasuryBps", [change.value]);
      case "feeEscrow.withdrawDelay":
        return c(a.feeEscrow, feeEscrowAbi, "setWithdrawDelay", [change.value]);
      case "feeEscrow.treasury":
        return c(a.feeEscrow, feeEscrowAbi, "setTreasury", [change.value]);
      case "slashing.slashBps":
        return c(a.slashing, slashingAbi, "setSlashBps", [change.value]);
      case "slashing.reporterBps":
        return c(a.slashing, slashingAbi, "setReporterBps", [change.value]);
      case "slashing.treasury":
        return c(a.slashing, slashingAbi, "setTreasury", [change.value]);
      case "vaultFactory.maxQueueWait":
        return c(a.vaultFactory, vaultFactoryAbi, "setMaxQueueWait", [change.value]);
      case "token.minter":
        return c(a.token, veilTokenAbi, "setMinter", [change.value]);
    }
  }

  /** The call that makes `change`, as a governor proposal action. */
  encodeParameterChange(change: ParameterChange): ProposalAction {
    const { target, abi, functionName, args } = this.parameterCall(change);
    return { target, value: 0n, data: encodeFunctionData({ abi, functionName, args } as never) };
  }

  /**
   * Makes `change` directly. Only the owner may: a dev governance account; on a network governed
   * by the timelock, use proposeParameterChanges.
   */
  async setParameter(change: ParameterChange): Promise<Hex> {
    const { target, abi, functionName, args } = this.parameterCall(change);
    const { hash } = await this.send(`set ${change.parameter}`, target, abi, functionName, args);
    return hash;
  }

  /** Proposes `actions` to the governor; returns the proposal id. */
  async propose(
    actions: readonly ProposalAction[],
    description: string,
  ): Promise<{ proposalId: bigint; hash: Hex }> {
    const { hash, logs } = await this.send("propose", this.addresses.governor, veilGovernorAbi, "propose", [
      actions.map((x) => x.target),
      actions.map((x) => x.value),
      actions.map((x) => x.data),
      description,
    ]);
    const [event] = parseEventLogs({
      abi: veilGovernorAbi,
      logs: logs as never,
      eventName: "ProposalCreated",
    });
    if (!event) throw new Error(`propose: no ProposalCreated event in ${hash}`);
    return { proposalId: event.args.proposalId, hash };
  }

  async proposeParameterChanges(
    changes: readonly ParameterChange[],
    description: string,
  ): Promise<{ proposalId: bigint; hash: Hex; actions: ProposalAction[] }> {
    const actions = changes.map((c) => this.encodeParameterChange(c));
    return { ...(await this.propose(actions, description)), actions };
  }

  async castVote(proposalId: bigint, support: number): Promise<Hex> {
    const { hash } = await this.send(
      `vote on proposal ${proposalId}`,
      this.addresses.governor,
      veilGovernorAbi,
      "castVote",
      [proposalId, support],
    );
    return hash;
  }

  async queueProposal(actions: readonly ProposalAction[], description: string): Promise<Hex> {
    const { hash } = await this.send("queue a proposal", this.addresses.governor, veilGovernorAbi, "queue", [
      actions.map((x) => x.target),
      actions.map((x) => x.value),
      actions.map((x) => x.data),
      keccak256(toBytes(description)),
    ]);
    return hash;
  }

  async executeProposal(actions: readonly ProposalAction[], description: string): Promise<Hex> {
    const { hash } = await this.send(
      "execute a proposal",
      this.addresses.governor,
      veilGovernorAbi,
      "execute",
      [
        actions.map((x) => x.target),
        actions.map((x) => x.value),
        actions.map((x) => x.data),
        keccak256(toBytes(description)),
      ],
    );
    return hash;
  }

  async proposalState(proposalId: bigint): Promise<number> {
    return this.read(`read the state of proposal ${proposalId}`, () =>
      this.public.readContract({
        address: this.addresses.governor,
        abi: withErrors(veilGovernorAbi) as typeof veilGovernorAbi,
        functionName: "state",
        args: [proposalId],
      }),
    );
  }

  /** Voting delay and period (seconds), proposal threshold, and the quorum at a past time. */
  async governorSettings(): Promise<{
    votingDelay: bigint;
    votingPeriod: bigint;
    proposalThreshold: bigint;
  }> {
    const address = this.addresses.governor;
    const abi = veilGovernorAbi;
    return this.read("read the governor's settings", async () => {
      const [votingDelay, votingPeriod, proposalThreshold] = await Promise.all([
        this.public.readContract({ address, abi, functionName: "votingDelay" }),
        this.public.readContract({ address, abi, functionName: "votingPeriod" }),
        this.public.readContract({ address, abi, functionName: "proposalThreshold" }),
      ]);
      return { votingDelay, votingPeriod, proposalThreshold };
    });
  }
}
