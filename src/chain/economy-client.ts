import { type Account, createPublicClient, createWalletClient, type Hex, http } from "viem";
import { VeilChain } from "./client.ts";
import type { EconomyConfig, EconomyConnection } from "./economy/base.ts";
import { FeeEscrowClient } from "./economy/fee-escrow.ts";
import { GovernanceClient } from "./economy/governance.ts";
import { encodeParameterChange, type ParameterChange, type ProposalAction } from "./economy/parameters.ts";
import { RewardsClient } from "./economy/rewards.ts";
import { SlashingClient } from "./economy/slashing.ts";
import { StakePoolClient } from "./economy/stake-pools.ts";
import { TokenClient } from "./economy/token.ts";
import { VaultClient } from "./economy/vaults.ts";
import type { EconomyAddresses } from "./economy-deploy.ts";

// The economy's typed clients, one per contract area (economy/*.ts), and what they share.
export {
  type CheckedCall,
  checkedCall,
  type EconomyConfig,
  type EconomyConnection,
  EconomyContractClient,
  type Sent,
  type WriteArgs,
  type WriteName,
} from "./economy/base.ts";
export { challenges, heartbeatDigest, voucherDigest, workerReceiptDigest } from "./economy/digests.ts";
export { type EscrowAccount, FeeEscrowClient, type Voucher } from "./economy/fee-escrow.ts";
export { GovernanceClient, type ProposalRecord, ProposalState, VoteType } from "./economy/governance.ts";
export {
  type EconomyParameters,
  encodeParameterChange,
  type ParameterChange,
  ParametersClient,
  type ProposalAction,
  parameterChangeCall,
} from "./economy/parameters.ts";
export { EndReason, type MinerRecord, MiningState, RewardsClient } from "./economy/rewards.ts";
export { SlashingClient, type WorkerReceipt } from "./economy/slashing.ts";
export { type PoolRecord, type QueuedWithdrawal, StakePoolClient } from "./economy/stake-pools.ts";
export { type SignedPermit, TokenClient } from "./economy/token.ts";
export { formatVeil, parseVeil, VEIL_DECIMALS } from "./economy/units.ts";
export { VaultClient, type VaultRecord } from "./economy/vaults.ts";
export type { EconomyAddresses } from "./economy-deploy.ts";

/**
 * Veil's typed view of the economy, one client per contract area: `token`, `pools`, `vaults`,
 * `rewards`, `feeEscrow`, `slashing` and `governance` (parameters, governor, timelock), sharing
 * one connection and account. Amounts are bigints in base units (parseVeil, formatVeil). Every
 * write simulates first, returns the transaction hash once it is mined, and turns reverts into
 * VeilErrors with a code and a hint (errors.ts). The methods on the class itself are shorthands
 * for the area clients' (`economy.balanceOf` is `economy.token.balanceOf`).
 *
 * @example
 * const economy = new VeilEconomy({ ...network.chain, economy: network.chain.economy }, { account: privateKey });
 * const { poolId } = await economy.pools.createPool(1000);
 * await economy.pools.contribute(poolId, parseVeil("500"));
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
  readonly public: EconomyConnection["public"];
  readonly token: TokenClient;
  readonly pools: StakePoolClient;
  readonly vaults: VaultClient;
  readonly rewards: RewardsClient;
  readonly feeEscrow: FeeEscrowClient;
  readonly slashing: SlashingClient;
  readonly governance: GovernanceClient;

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
    const pollingMs = options.pollingIntervalMs ?? 250;
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
      pollingInterval: pollingMs,
    });
    const account = this.chain.wallet?.account;
    const wallet = account
      ? createWalletClient({ chain, transport: transport(false), account, pollingInterval: pollingMs })
      : undefined;
    const connection: EconomyConnection = { config, public: this.public, wallet, pollingMs };
    this.token = new TokenClient(connection);
    this.pools = new StakePoolClient(connection, this.token);
    this.vaults = new VaultClient(connection, this.token);
    this.rewards = new RewardsClient(connection);
    this.feeEscrow = new FeeEscrowClient(connection, this.token);
    this.slashing = new SlashingClient(connection);
    this.governance = new GovernanceClient(connection);
  }

  get account(): Hex {
    return this.chain.account;
  }

  get addresses(): EconomyAddresses {
    return this.config.economy;
  }

  /** The call that makes `change`, as a governor proposal action. */
  encodeParameterChange(change: ParameterChange): ProposalAction {
    return encodeParameterChange(this.addresses, change);
  }

  // ── token ──

  balanceOf(...args: Parameters<TokenClient["balanceOf"]>): ReturnType<TokenClient["balanceOf"]> {
    return this.token.balanceOf(...args);
  }

  totalSupply(...args: Parameters<TokenClient["totalSupply"]>): ReturnType<TokenClient["totalSupply"]> {
    return this.token.totalSupply(...args);
  }

  tokenInfo(...args: Parameters<TokenClient["tokenInfo"]>): ReturnType<TokenClient["tokenInfo"]> {
    return this.token.tokenInfo(...args);
  }

  allowance(...args: Parameters<TokenClient["allowance"]>): ReturnType<TokenClient["allowance"]> {
    return this.token.allowance(...args);
  }

  transfer(...args: Parameters<TokenClient["transfer"]>): ReturnType<TokenClient["transfer"]> {
    return this.token.transfer(...args);
  }

  approve(...args: Parameters<TokenClient["approve"]>): ReturnType<TokenClient["approve"]> {
    return this.token.approve(...args);
  }

  ensureAllowance(
    ...args: Parameters<TokenClient["ensureAllowance"]>
  ): ReturnType<TokenClient["ensureAllowance"]> {
    return this.token.ensureAllowance(...args);
  }

  signPermit(...args: Parameters<TokenClient["signPermit"]>): ReturnType<TokenClient["signPermit"]> {
    return this.token.signPermit(...args);
  }

  permit(...args: Parameters<TokenClient["permit"]>): ReturnType<TokenClient["permit"]> {
    return this.token.permit(...args);
  }

  delegateVotes(...args: Parameters<TokenClient["delegateVotes"]>): ReturnType<TokenClient["delegateVotes"]> {
    return this.token.delegateVotes(...args);
  }

  votesOf(...args: Parameters<TokenClient["votesOf"]>): ReturnType<TokenClient["votesOf"]> {
    return this.token.votesOf(...args);
  }

  // ── pools ──

  createPool(...args: Parameters<StakePoolClient["createPool"]>): ReturnType<StakePoolClient["createPool"]> {
    return this.pools.createPool(...args);
  }

  setPoolCommission(
    ...args: Parameters<StakePoolClient["setPoolCommission"]>
  ): ReturnType<StakePoolClient["setPoolCommission"]> {
    return this.pools.setPoolCommission(...args);
  }

  contribute(...args: Parameters<StakePoolClient["contribute"]>): ReturnType<StakePoolClient["contribute"]> {
    return this.pools.contribute(...args);
  }

  withdrawFromPool(
    ...args: Parameters<StakePoolClient["withdrawFromPool"]>
  ): ReturnType<StakePoolClient["withdrawFromPool"]> {
    return this.pools.withdrawFromPool(...args);
  }

  processPoolQueue(
    ...args: Parameters<StakePoolClient["processPoolQueue"]>
  ): ReturnType<StakePoolClient["processPoolQueue"]> {
    return this.pools.processPoolQueue(...args);
  }

  creditReward(
    ...args: Parameters<StakePoolClient["creditReward"]>
  ): ReturnType<StakePoolClient["creditReward"]> {
    return this.pools.creditReward(...args);
  }

  claimCommission(
    ...args: Parameters<StakePoolClient["claimCommission"]>
  ): ReturnType<StakePoolClient["claimCommission"]> {
    return this.pools.claimCommission(...args);
  }

  bindWorker(...args: Parameters<StakePoolClient["bindWorker"]>): ReturnType<StakePoolClient["bindWorker"]> {
    return this.pools.bindWorker(...args);
  }

  unbindWorker(
    ...args: Parameters<StakePoolClient["unbindWorker"]>
  ): ReturnType<StakePoolClient["unbindWorker"]> {
    return this.pools.unbindWorker(...args);
  }

  startMining(
    ...args: Parameters<StakePoolClient["startMining"]>
  ): ReturnType<StakePoolClient["startMining"]> {
    return this.pools.startMining(...args);
  }

  stopMining(...args: Parameters<StakePoolClient["stopMining"]>): ReturnType<StakePoolClient["stopMining"]> {
    return this.pools.stopMining(...args);
  }

  forceStopMining(
    ...args: Parameters<StakePoolClient["forceStopMining"]>
  ): ReturnType<StakePoolClient["forceStopMining"]> {
    return this.pools.forceStopMining(...args);
  }

  reclaim(...args: Parameters<StakePoolClient["reclaim"]>): ReturnType<StakePoolClient["reclaim"]> {
    return this.pools.reclaim(...args);
  }

  getPool(...args: Parameters<StakePoolClient["getPool"]>): ReturnType<StakePoolClient["getPool"]> {
    return this.pools.getPool(...args);
  }

  poolCount(...args: Parameters<StakePoolClient["poolCount"]>): ReturnType<StakePoolClient["poolCount"]> {
    return this.pools.poolCount(...args);
  }

  listPools(...args: Parameters<StakePoolClient["listPools"]>): ReturnType<StakePoolClient["listPools"]> {
    return this.pools.listPools(...args);
  }

  poolPosition(
    ...args: Parameters<StakePoolClient["poolPosition"]>
  ): ReturnType<StakePoolClient["poolPosition"]> {
    return this.pools.poolPosition(...args);
  }

  poolQueue(...args: Parameters<StakePoolClient["poolQueue"]>): ReturnType<StakePoolClient["poolQueue"]> {
    return this.pools.poolQueue(...args);
  }

  workerStake(
    ...args: Parameters<StakePoolClient["workerStake"]>
  ): ReturnType<StakePoolClient["workerStake"]> {
    return this.pools.workerStake(...args);
  }

  // ── vaults ──

  createVault(...args: Parameters<VaultClient["createVault"]>): ReturnType<VaultClient["createVault"]> {
    return this.vaults.createVault(...args);
  }

  listVaults(...args: Parameters<VaultClient["listVaults"]>): ReturnType<VaultClient["listVaults"]> {
    return this.vaults.listVaults(...args);
  }

  vaultDeposit(...args: Parameters<VaultClient["vaultDeposit"]>): ReturnType<VaultClient["vaultDeposit"]> {
    return this.vaults.vaultDeposit(...args);
  }

  vaultWithdraw(...args: Parameters<VaultClient["vaultWithdraw"]>): ReturnType<VaultClient["vaultWithdraw"]> {
    return this.vaults.vaultWithdraw(...args);
  }

  vaultProcessQueue(
    ...args: Parameters<VaultClient["vaultProcessQueue"]>
  ): ReturnType<VaultClient["vaultProcessQueue"]> {
    return this.vaults.vaultProcessQueue(...args);
  }

  vaultDelegate(...args: Parameters<VaultClient["vaultDelegate"]>): ReturnType<VaultClient["vaultDelegate"]> {
    return this.vaults.vaultDelegate(...args);
  }

  vaultUndelegate(
    ...args: Parameters<VaultClient["vaultUndelegate"]>
  ): ReturnType<VaultClient["vaultUndelegate"]> {
    return this.vaults.vaultUndelegate(...args);
  }

  vaultForceUndelegate(
    ...args: Parameters<VaultClient["vaultForceUndelegate"]>
  ): ReturnType<VaultClient["vaultForceUndelegate"]> {
    return this.vaults.vaultForceUndelegate(...args);
  }

  setVaultCommission(
    ...args: Parameters<VaultClient["setVaultCommission"]>
  ): ReturnType<VaultClient["setVaultCommission"]> {
    return this.vaults.setVaultCommission(...args);
  }

  transferVaultOwnership(
    ...args: Parameters<VaultClient["transferVaultOwnership"]>
  ): ReturnType<VaultClient["transferVaultOwnership"]> {
    return this.vaults.transferVaultOwnership(...args);
  }

  getVault(...args: Parameters<VaultClient["getVault"]>): ReturnType<VaultClient["getVault"]> {
    return this.vaults.getVault(...args);
  }

  vaultPosition(...args: Parameters<VaultClient["vaultPosition"]>): ReturnType<VaultClient["vaultPosition"]> {
    return this.vaults.vaultPosition(...args);
  }

  // ── rewards ──

  getMiner(...args: Parameters<RewardsClient["getMiner"]>): ReturnType<RewardsClient["getMiner"]> {
    return this.rewards.getMiner(...args);
  }

  pendingRewards(
    ...args: Parameters<RewardsClient["pendingRewards"]>
  ): ReturnType<RewardsClient["pendingRewards"]> {
    return this.rewards.pendingRewards(...args);
  }

  rewardTotals(
    ...args: Parameters<RewardsClient["rewardTotals"]>
  ): ReturnType<RewardsClient["rewardTotals"]> {
    return this.rewards.rewardTotals(...args);
  }

  shareFor(...args: Parameters<RewardsClient["shareFor"]>): ReturnType<RewardsClient["shareFor"]> {
    return this.rewards.shareFor(...args);
  }

  isChallenged(
    ...args: Parameters<RewardsClient["isChallenged"]>
  ): ReturnType<RewardsClient["isChallenged"]> {
    return this.rewards.isChallenged(...args);
  }

  findChallenges(
    ...args: Parameters<RewardsClient["findChallenges"]>
  ): ReturnType<RewardsClient["findChallenges"]> {
    return this.rewards.findChallenges(...args);
  }

  signHeartbeat(
    ...args: Parameters<RewardsClient["signHeartbeat"]>
  ): ReturnType<RewardsClient["signHeartbeat"]> {
    return this.rewards.signHeartbeat(...args);
  }

  heartbeat(...args: Parameters<RewardsClient["heartbeat"]>): ReturnType<RewardsClient["heartbeat"]> {
    return this.rewards.heartbeat(...args);
  }

  reportUnresponsive(
    ...args: Parameters<RewardsClient["reportUnresponsive"]>
  ): ReturnType<RewardsClient["reportUnresponsive"]> {
    return this.rewards.reportUnresponsive(...args);
  }

  reportUnattested(
    ...args: Parameters<RewardsClient["reportUnattested"]>
  ): ReturnType<RewardsClient["reportUnattested"]> {
    return this.rewards.reportUnattested(...args);
  }

  settleRewards(
    ...args: Parameters<RewardsClient["settleRewards"]>
  ): ReturnType<RewardsClient["settleRewards"]> {
    return this.rewards.settleRewards(...args);
  }

  // ── feeEscrow ──

  depositEscrow(
    ...args: Parameters<FeeEscrowClient["depositEscrow"]>
  ): ReturnType<FeeEscrowClient["depositEscrow"]> {
    return this.feeEscrow.depositEscrow(...args);
  }

  requestEscrowWithdrawal(
    ...args: Parameters<FeeEscrowClient["requestEscrowWithdrawal"]>
  ): ReturnType<FeeEscrowClient["requestEscrowWithdrawal"]> {
    return this.feeEscrow.requestEscrowWithdrawal(...args);
  }

  withdrawEscrow(
    ...args: Parameters<FeeEscrowClient["withdrawEscrow"]>
  ): ReturnType<FeeEscrowClient["withdrawEscrow"]> {
    return this.feeEscrow.withdrawEscrow(...args);
  }

  authorizeSigner(
    ...args: Parameters<FeeEscrowClient["authorizeSigner"]>
  ): ReturnType<FeeEscrowClient["authorizeSigner"]> {
    return this.feeEscrow.authorizeSigner(...args);
  }

  revokeSigner(
    ...args: Parameters<FeeEscrowClient["revokeSigner"]>
  ): ReturnType<FeeEscrowClient["revokeSigner"]> {
    return this.feeEscrow.revokeSigner(...args);
  }

  escrowAccount(
    ...args: Parameters<FeeEscrowClient["escrowAccount"]>
  ): ReturnType<FeeEscrowClient["escrowAccount"]> {
    return this.feeEscrow.escrowAccount(...args);
  }

  feeChannel(...args: Parameters<FeeEscrowClient["feeChannel"]>): ReturnType<FeeEscrowClient["feeChannel"]> {
    return this.feeEscrow.feeChannel(...args);
  }

  signVoucher(
    ...args: Parameters<FeeEscrowClient["signVoucher"]>
  ): ReturnType<FeeEscrowClient["signVoucher"]> {
    return this.feeEscrow.signVoucher(...args);
  }

  claimFees(...args: Parameters<FeeEscrowClient["claimFees"]>): ReturnType<FeeEscrowClient["claimFees"]> {
    return this.feeEscrow.claimFees(...args);
  }

  // ── slashing ──

  signWorkerReceipt(
    ...args: Parameters<SlashingClient["signWorkerReceipt"]>
  ): ReturnType<SlashingClient["signWorkerReceipt"]> {
    return this.slashing.signWorkerReceipt(...args);
  }

  reportEquivocation(
    ...args: Parameters<SlashingClient["reportEquivocation"]>
  ): ReturnType<SlashingClient["reportEquivocation"]> {
    return this.slashing.reportEquivocation(...args);
  }

  reportUnattestedHeartbeat(
    ...args: Parameters<SlashingClient["reportUnattestedHeartbeat"]>
  ): ReturnType<SlashingClient["reportUnattestedHeartbeat"]> {
    return this.slashing.reportUnattestedHeartbeat(...args);
  }

  // ── governance ──

  parameters(
    ...args: Parameters<GovernanceClient["parameters"]>
  ): ReturnType<GovernanceClient["parameters"]> {
    return this.governance.parameters(...args);
  }

  setParameter(
    ...args: Parameters<GovernanceClient["setParameter"]>
  ): ReturnType<GovernanceClient["setParameter"]> {
    return this.governance.setParameter(...args);
  }

  propose(...args: Parameters<GovernanceClient["propose"]>): ReturnType<GovernanceClient["propose"]> {
    return this.governance.propose(...args);
  }

  proposeParameterChanges(
    ...args: Parameters<GovernanceClient["proposeParameterChanges"]>
  ): ReturnType<GovernanceClient["proposeParameterChanges"]> {
    return this.governance.proposeParameterChanges(...args);
  }

  castVote(...args: Parameters<GovernanceClient["castVote"]>): ReturnType<GovernanceClient["castVote"]> {
    return this.governance.castVote(...args);
  }

  queueProposal(
    ...args: Parameters<GovernanceClient["queueProposal"]>
  ): ReturnType<GovernanceClient["queueProposal"]> {
    return this.governance.queueProposal(...args);
  }

  executeProposal(
    ...args: Parameters<GovernanceClient["executeProposal"]>
  ): ReturnType<GovernanceClient["executeProposal"]> {
    return this.governance.executeProposal(...args);
  }

  proposalState(
    ...args: Parameters<GovernanceClient["proposalState"]>
  ): ReturnType<GovernanceClient["proposalState"]> {
    return this.governance.proposalState(...args);
  }

  governorSettings(
    ...args: Parameters<GovernanceClient["governorSettings"]>
  ): ReturnType<GovernanceClient["governorSettings"]> {
    return this.governance.governorSettings(...args);
  }
}
