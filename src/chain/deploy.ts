import { createPublicClient, createWalletClient, defineChain, type Hex, http } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import type { ContractAddresses } from "./client.ts";
import { compileContracts } from "./compile.ts";
import { chainError } from "./errors.ts";

/**
 * Deploys Veil's contracts with `deployerKey` as their owner (governance on a development
 * network). Returns their addresses once every deployment has a receipt.
 */
/** A day: long enough for a caller to see a price increase coming and stop calling. */
export const DEFAULT_PRICE_INCREASE_DELAY_S = 86_400;

/**
 * The least an on-chain request pays (wei): an answer with its 500k-gas callback (650k gas) at
 * 1 gwei. The contract also follows the base fee when it is higher (ADR 0020).
 */
export const DEFAULT_MIN_REQUEST_FEE_WEI = 650_000n * 1_000_000_000n;

export async function deployContracts(options: {
  rpcUrl: string;
  chainId: number;
  deployerKey: Hex;
  onProgress?: (message: string) => void;
  /** Seconds a price increase waits before it applies (default a day; ADR 0020). */
  priceIncreaseDelaySeconds?: number;
}): Promise<ContractAddresses> {
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
  const client = createPublicClient({ chain, transport, pollingInterval: 50 });

  const deploy = async (name: string, args: readonly unknown[]): Promise<Hex> => {
    const c = compiled[name];
    if (!c) throw new Error(`contract ${name} is missing from the compiled output`);
    options.onProgress?.(`deploying ${name}…`);
    try {
      const hash = await wallet.deployContract({ abi: c.abi, bytecode: c.bytecode, args });
      const receipt = await client.waitForTransactionReceipt({ hash, pollingInterval: 50 });
      if (!receipt.contractAddress) throw new Error(`deployment of ${name} produced no contract`);
      return receipt.contractAddress;
    } catch (err) {
      throw chainError(err, `deploy ${name}`, options.rpcUrl);
    }
  };

  const attestationPolicy = await deploy("AttestationPolicy", [account.address]);
  const gatekeeperRegistry = await deploy("GatekeeperRegistry", [account.address]);
  // Only the gatekeepers may record that they verified a worker's evidence.
  const workerRegistry = await deploy("WorkerRegistry", [
    account.address,
    attestationPolicy,
    gatekeeperRegistry,
  ]);
  const agentRegistry = await deploy("AgentRegistry", [
    account.address,
    BigInt(options.priceIncreaseDelaySeconds ?? DEFAULT_PRICE_INCREASE_DELAY_S),
  ]);
  const agentKeys = await deploy("AgentKeys", [agentRegistry, gatekeeperRegistry]);
  const agentTriggers = await deploy("AgentTriggers", [
    agentRegistry,
    agentKeys,
    account.address,
    DEFAULT_MIN_REQUEST_FEE_WEI,
  ]);
  return { agentRegistry, agentKeys, workerRegistry, gatekeeperRegistry, attestationPolicy, agentTriggers };
}
