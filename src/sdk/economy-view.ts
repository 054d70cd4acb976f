import { type Account, createWalletClient, getAddress, type Hex, http } from "viem";
import { veilTokenAbi } from "../chain/abi.ts";
import {
  type EconomyConnection,
  GovernanceClient,
  MiningState,
  type PoolRecord,
  type ProposalAction,
  ProposalState,
  StakePoolClient,
  TokenClient,
  VaultClient,
  type VaultRecord,
  VeilEconomy,
} from "../chain/economy-client.ts";
import type { VeilChain } from "../chain/index.ts";
import { VeilError } from "../errors/index.ts";
import type { SecretSigner } from "./browser-secrets.ts";
import type { ConnectedNetwork } from "./network-view.ts";

// The economy as the web console's staking and governance pages show it: aggregated reads over
// the typed clients (pools with their workers and an account's share, vaults, proposals with
// their state, votes and eta), and the clients that sign with a browser's signer (an injected
// wallet, or DEV ONLY a development chain's unlocked account). Browser-safe: viem only.

/** A pool as the console shows it: the record, how many workers are bound to it, an account's position. */
export type PoolView = PoolRecord & {
  workers: number;
  /** The account's shares (not queued), queued shares and their value in VEIL base units. */
  you: { shares: bigint; queued: bigint; value: bigint } | undefined;
};

export type VaultView = VaultRecord & {
  you: { shares: bigint; queued: bigint; value: bigint } | undefined;
};

export type StakingView = {
  pools: PoolView[];
  vaults: VaultView[];
  /** The account's balance, votes and delegate (undefined without an account). */
  account: { address: Hex; balance: bigint; votes: bigint; delegate: Hex } | undefined;
};

const STATE_NAMES = Object.fromEntries(Object.entries(ProposalState).map(([name, n]) => [n, name])) as Record<
  number,
  string
>;

export type ProposalView = {
  id: bigint;
  description: string;
  /** The calls it makes (needed again to queue and execute it). */
  actions: ProposalAction[];
  /** "Pending", "Active", "Succeeded", "Queued", "Executed", "Defeated", … */
  state: string;
  votes: { against: bigint; forVotes: bigint; abstain: bigint };
  /** When it may execute, once queued (unix seconds; 0n otherwise). */
  eta: bigint;
  voteStart: bigint;
  voteEnd: bigint;
};

/**
 * The network's economy, read-only: its typed clients (VeilEconomy) over the chain the network
 * names. `NO_ECONOMY` when the network has none.
 *
 * @example
 * ```ts
 * const connected = await connectNetwork(location.origin);
 * const pools = await economyOf(connected).pools.listPools();
 * ```
 */
export function economyOf(connected: ConnectedNetwork): VeilEconomy {
  const economy = connected.network.chain.economy;
  if (!economy) {
    throw new VeilError("NO_ECONOMY", "This network has no economy deployed", {
      hint: "Start it with `veil up`, which deploys the economy.",
    });
  }
  return new VeilEconomy({ ...connected.network.chain, economy }, { pollingIntervalMs: 250 });
}

/** The clients that write for `signer`, over `economy`'s reads. */
export type SignedEconomy = {
  address: Hex;
  token: TokenClient;
  pools: StakePoolClient;
  vaults: VaultClient;
  governance: GovernanceClient;
};

/**
 * Token, pool, vault and governance clients that sign as `signer` (its wallet asks its user; a
 * dev account is signed for by the development chain's node: DEV ONLY).
 *
 * @example
 * ```ts
 * const economy = economyOf(connected);
 * const signed = signedEconomy(economy, await walletSigner(window.ethereum));
 * await signed.pools.contribute(1n, parseVeil("100"));
 * ```
 */
export function signedEconomy(economy: VeilEconomy, signer: SecretSigner): SignedEconomy {
  const account: Account = { address: signer.address, type: "json-rpc" };
  const wallet = createWalletClient({
    account,
    chain: economy.public.chain,
    transport: signer.transport,
    pollingInterval: 250,
  });
  const connection: EconomyConnection = {
    config: economy.config,
    public: economy.public,
    wallet,
    pollingMs: 250,
  };
  const token = new TokenClient(connection);
  return {
    address: signer.address,
    token,
    pools: new StakePoolClient(connection, token),
    vaults: new VaultClient(connection, token),
    governance: new GovernanceClient(connection),
  };
}

/**
 * Every pool (with its bound workers counted) and vault, and `account`'s position in each, its
 * balance, votes and delegate.
 *
 * @example
 * ```ts
 * const view = await readStakingView(economyOf(connected), connected.chain, "0xf39F…");
 * for (const p of view.pools) console.log(p.id, formatVeil(p.totalStake), p.workers);
 * ```
 */
export async function readStakingView(
  economy: VeilEconomy,
  chain: VeilChain,
  account?: Hex,
): Promise<StakingView> {
  const [pools, vaultAddresses, workers] = await Promise.all([
    economy.pools.listPools(),
    economy.vaults.listVaults(),
    chain.listWorkers(),
  ]);
  const bound = await Promise.all(workers.map((w) => economy.pools.workerStake(w.address)));
  const poolViews = await Promise.all(
    pools.map(async (p) => ({
      ...p,
      workers: bound.filter((b) => b.poolId === p.id).length,
      you: account ? await economy.pools.poolPosition(p.id, account) : undefined,
    })),
  );
  const vaults = await Promise.all(
    vaultAddresses.map(async (address) => ({
      ...(await economy.vaults.getVault(address)),
      you: account ? await economy.vaults.vaultPosition(address, account) : undefined,
    })),
  );
  if (!account) return { pools: poolViews, vaults, account: undefined };
  const [balance, votes, delegate] = await Promise.all([
    economy.token.balanceOf(account),
    economy.token.votesOf(account),
    economy.public.readContract({
      address: economy.addresses.token,
      abi: veilTokenAbi,
      functionName: "delegates",
      args: [account],
    }),
  ]);
  return { pools: poolViews, vaults, account: { address: account, balance, votes, delegate } };
}

/**
 * Every proposal made to the governor, newest first, with its state, votes and eta.
 *
 * @example
 * ```ts
 * for (const p of await readProposals(economyOf(connected))) console.log(p.id, p.state, p.votes.forVotes);
 * ```
 */
export async function readProposals(economy: VeilEconomy): Promise<ProposalView[]> {
  const proposals = await economy.governance.proposals();
  const views = await Promise.all(
    proposals.map(async (p) => {
      const [state, votes, eta] = await Promise.all([
        economy.governance.proposalState(p.id),
        economy.governance.proposalVotes(p.id),
        economy.governance.proposalEta(p.id),
      ]);
      return {
        id: p.id,
        description: p.description,
        actions: p.actions,
        state: STATE_NAMES[state] ?? `#${state}`,
        votes,
        eta,
        voteStart: p.voteStart,
        voteEnd: p.voteEnd,
      };
    }),
  );
  return views.reverse();
}

/**
 * The accounts the development chain's node holds unlocked (`eth_accounts`, checksummed); none elsewhere.
 * DEV ONLY: anyone who reaches that node can sign as them (their keys are public).
 *
 * @example
 * ```ts
 * const [first] = await unlockedDevAccounts(connected.chain);
 * const signer = first && (await devAccountSigner(connected.chain, first));
 * ```
 */
export async function unlockedDevAccounts(chain: VeilChain): Promise<Hex[]> {
  try {
    const rpc = http(chain.config.rpcUrl, { retryCount: 0 })({});
    const accounts = (await rpc.request({ method: "eth_accounts" })) as Hex[];
    return accounts.map((a) => getAddress(a));
  } catch {
    return [];
  }
}

/** A worker's mining as the network page shows it: what backs it and how it is scored. */
export type WorkerMining = {
  /** The stake pool it is bound to (0n: none) and the stake it mines with. */
  poolId: bigint;
  stake: bigint;
  /** "Idle", "Working", "Unresponsive" or "CoolingDown" (Rewards.sol). */
  state: string;
  /** Its performance score (the heartbeats' figure) and the value it mines at. */
  performance: bigint;
  value: bigint;
};

const MINING_STATE_NAMES = Object.fromEntries(Object.entries(MiningState).map(([name, n]) => [n, name]));

/**
 * Each worker's stake and score, read from the stake pools and the rewards contract.
 *
 * @example
 * ```ts
 * const mining = await readWorkerMining(economyOf(connected), glance.workers.map((w) => w.address));
 * console.log(mining.get(worker)?.stake);
 * ```
 */
export async function readWorkerMining(
  economy: VeilEconomy,
  workers: Hex[],
): Promise<Map<Hex, WorkerMining>> {
  const rows = await Promise.all(
    workers.map(async (worker) => {
      const [{ poolId, stake }, miner] = await Promise.all([
        economy.pools.workerStake(worker),
        economy.rewards.getMiner(worker),
      ]);
      const mining: WorkerMining = {
        poolId,
        stake,
        state: MINING_STATE_NAMES[miner.state] ?? `#${miner.state}`,
        performance: miner.performance,
        value: miner.value,
      };
      return [worker, mining] as const;
    }),
  );
  return new Map(rows);
}
