import {
  type Abi,
  createPublicClient,
  createWalletClient,
  defineChain,
  getAddress,
  type Hex,
  http,
  keccak256,
  parseUnits,
  toBytes,
  zeroAddress,
} from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { feeEscrowAbi, rewardsAbi, stakePoolAbi, veilTimelockAbi, veilTokenAbi } from "./abi.ts";
import type { ContractAddresses } from "./client.ts";
import { compileContracts } from "./compile.ts";
import { chainError } from "./errors.ts";
import { checkedCall, type WriteArgs, type WriteName } from "./typed-calls.ts";

/** Ownable's transferOwnership, the same on every contract that hands itself over. */
const ownableAbi = [
  {
    type: "function",
    name: "transferOwnership",
    stateMutability: "nonpayable",
    inputs: [{ name: "newOwner", type: "address" }],
    outputs: [],
  },
] as const;

/** Where the economy's contracts live. The treasury is the timelock. */
export type EconomyAddresses = {
  token: Hex;
  stakePool: Hex;
  rewards: Hex;
  feeEscrow: Hex;
  slashing: Hex;
  vaultImplementation: Hex;
  vaultFactory: Hex;
  timelock: Hex;
  governor: Hex;
  treasury: Hex;
};

/** Governor and timelock settings; periods in seconds (votes are counted by timestamp). */
export type GovernanceSettings = {
  votingDelay: number;
  votingPeriod: number;
  proposalThreshold: bigint;
  quorumPercent: number;
  timelockDelay: number;
};

export const DEFAULT_GOVERNANCE: GovernanceSettings = {
  votingDelay: 24 * 3600,
  votingPeriod: 7 * 24 * 3600,
  proposalThreshold: parseUnits("10000", 18),
  quorumPercent: 4,
  timelockDelay: 2 * 24 * 3600,
};

export const DEFAULT_GENESIS_SUPPLY = parseUnits("1000000000", 18);
export const DEFAULT_EMISSION_CAP = parseUnits("700000000", 18);

export type EconomyDeployOptions = {
  rpcUrl: string;
  chainId: number;
  deployerKey: Hex;
  /** The registries deployed by deployContracts; the economy reads the worker registry. */
  registries: Pick<ContractAddresses, "workerRegistry"> &
    Partial<
      Pick<ContractAddresses, "attestationPolicy" | "gatekeeperRegistry" | "agentRegistry" | "agentTriggers">
    >;
  /**
   * Also hand the registries the deployer owns (attestation policy, worker and gatekeeper
   * registries: measurement allowlists, evictions, the gatekeeper set) to the same owner as the
   * economy's parameters. Off by default: a development network's daemons govern them directly.
   */
  governRegistries?: boolean;
  /** Receives the genesis supply (default: the deployer). */
  genesisHolder?: Hex;
  genesisSupply?: bigint;
  emissionCap?: bigint;
  governance?: Partial<GovernanceSettings>;
  /**
   * Development networks only: this account, not the timelock, owns every parameter, so that
   * changes take one transaction. The governor and timelock are deployed all the same (the
   * timelock still holds the treasury).
   */
  devGovernance?: Hex;
  /** How often to poll for receipts (default 50 ms). */
  pollingIntervalMs?: number;
  onProgress?: (message: string) => void;
};

const PROPOSER_ROLE = keccak256(toBytes("PROPOSER_ROLE"));
const CANCELLER_ROLE = keccak256(toBytes("CANCELLER_ROLE"));
const DEFAULT_ADMIN_ROLE: Hex = `0x${"00".repeat(32)}`;

/**
 * Deploys the economy (token, stake pools, vault factory, rewards, fee escrow, slashing, governor
 * and timelock) against existing registries, wires the contracts to each other, and hands every
 * parameter to the timelock (or to `devGovernance`). The deployer keeps no role.
 */
export async function deployEconomy(options: EconomyDeployOptions): Promise<EconomyAddresses> {
  const compiled = compileContracts(options.onProgress ? { onProgress: options.onProgress } : {});
  const chain = defineChain({
    id: options.chainId,
    name: "veil",
    nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
    rpcUrls: { default: { http: [options.rpcUrl] } },
  });
  const account = privateKeyToAccount(options.deployerKey);
  const transport = http(options.rpcUrl, { retryCount: 1 });
  const wallet = createWalletClient({ chain, transport, account });
  const pollingInterval = options.pollingIntervalMs ?? 50;
  const client = createPublicClient({ chain, transport, pollingInterval });
  const gov = { ...DEFAULT_GOVERNANCE, ...options.governance };
  const deployer = account.address;

  const deploy = async (name: string, args: readonly unknown[]): Promise<Hex> => {
    const c = compiled[name];
    if (!c) throw new Error(`contract ${name} is missing from the compiled output`);
    options.onProgress?.(`deploying ${name}…`);
    try {
      const hash = await wallet.deployContract({ abi: c.abi, bytecode: c.bytecode, args });
      const receipt = await client.waitForTransactionReceipt({ hash, pollingInterval });
      if (!receipt.contractAddress) throw new Error(`deployment of ${name} produced no contract`);
      return getAddress(receipt.contractAddress);
    } catch (err) {
      throw chainError(err, `deploy ${name}`, options.rpcUrl);
    }
  };
  /** Sends one call, checked against the contract's ABI (abi.ts, which matches the compiled one). */
  const call = async <const A extends Abi, N extends WriteName<A>>(
    name: string,
    address: Hex,
    abi: A,
    functionName: N,
    args: WriteArgs<A, N>,
  ) => {
    const checked = checkedCall(address, abi, functionName, args);
    try {
      const hash = await wallet.writeContract(checked);
      const receipt = await client.waitForTransactionReceipt({ hash, pollingInterval });
      if (receipt.status !== "success") throw new Error(`${name}.${functionName} reverted in ${hash}`);
    } catch (err) {
      throw chainError(err, `${name}.${functionName}`, options.rpcUrl);
    }
  };

  const workerRegistry = options.registries.workerRegistry;
  const token = await deploy("VeilToken", [
    options.genesisHolder ?? deployer,
    options.genesisSupply ?? DEFAULT_GENESIS_SUPPLY,
    options.emissionCap ?? DEFAULT_EMISSION_CAP,
    deployer,
  ]);
  const timelock = await deploy("VeilTimelock", [BigInt(gov.timelockDelay), [], [zeroAddress], deployer]);
  const governor = await deploy("VeilGovernor", [
    token,
    timelock,
    gov.votingDelay,
    gov.votingPeriod,
    gov.proposalThreshold,
    BigInt(gov.quorumPercent),
  ]);
  const treasury = timelock;
  const stakePool = await deploy("StakePool", [token, workerRegistry, deployer]);
  const rewards = await deploy("Rewards", [token, workerRegistry, treasury, deployer]);
  const feeEscrow = await deploy("FeeEscrow", [token, workerRegistry, treasury, deployer]);
  const slashing = await deploy("Slashing", [token, workerRegistry, stakePool, rewards, treasury, deployer]);
  const vaultImplementation = await deploy("Vault", []);
  const vaultFactory = await deploy("VaultFactory", [token, stakePool, vaultImplementation, deployer]);

  options.onProgress?.("wiring the economy…");
  await call("VeilToken", token, veilTokenAbi, "setMinter", [rewards]);
  await call("StakePool", stakePool, stakePoolAbi, "setRewards", [rewards]);
  await call("StakePool", stakePool, stakePoolAbi, "setSlasher", [slashing]);
  await call("Rewards", rewards, rewardsAbi, "setStakePool", [stakePool]);
  await call("Rewards", rewards, rewardsAbi, "setSlasher", [slashing]);
  await call("FeeEscrow", feeEscrow, feeEscrowAbi, "setStakePool", [stakePool]);

  options.onProgress?.(
    `handing the parameters to ${options.devGovernance ? "the dev governance account" : "the timelock"}…`,
  );
  const owner = options.devGovernance ?? timelock;
  for (const [name, address] of [
    ["VeilToken", token],
    ["StakePool", stakePool],
    ["Rewards", rewards],
    ["FeeEscrow", feeEscrow],
    ["Slashing", slashing],
    ["VaultFactory", vaultFactory],
  ] as const) {
    await call(name, address, ownableAbi, "transferOwnership", [owner]);
  }
  if (options.governRegistries) {
    const {
      workerRegistry: wr,
      attestationPolicy,
      gatekeeperRegistry,
      agentRegistry,
      agentTriggers,
    } = options.registries;
    for (const [name, address] of [
      ["AgentRegistry", agentRegistry],
      ["AgentTriggers", agentTriggers],
      ["WorkerRegistry", wr],
      ["AttestationPolicy", attestationPolicy],
      ["GatekeeperRegistry", gatekeeperRegistry],
    ] as const) {
      if (!address) {
        if (name === "AgentRegistry" || name === "AgentTriggers") continue; // kept by the caller
        throw new Error(`governRegistries: the ${name} address is missing`);
      }
      await call(name, address, ownableAbi, "transferOwnership", [owner]);
    }
  }
  await call("VeilTimelock", timelock, veilTimelockAbi, "grantRole", [PROPOSER_ROLE, governor]);
  await call("VeilTimelock", timelock, veilTimelockAbi, "grantRole", [CANCELLER_ROLE, governor]);
  await call("VeilTimelock", timelock, veilTimelockAbi, "renounceRole", [DEFAULT_ADMIN_ROLE, deployer]);

  return {
    token,
    stakePool,
    rewards,
    feeEscrow,
    slashing,
    vaultImplementation,
    vaultFactory,
    timelock,
    governor,
    treasury,
  };
}
