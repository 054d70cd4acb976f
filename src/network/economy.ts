import {
  createPublicClient,
  createWalletClient,
  defineChain,
  type Hex,
  http,
  maxUint256,
  parseUnits,
} from "viem";
import { privateKeyToAccount } from "viem/accounts";
import {
  feeEscrowAbi,
  rewardsAbi,
  slashingAbi,
  stakePoolAbi,
  vaultFactoryAbi,
  veilTokenAbi,
} from "../chain/abi.ts";
import type { ContractAddresses } from "../chain/client.ts";
import { deployEconomy, type EconomyAddresses, type GovernanceSettings } from "../chain/economy-deploy.ts";
import { chainError } from "../chain/errors.ts";

/**
 * Governance of a development network: the same governor and timelock as production, with
 * timings short enough to walk a proposal through in a minute. Votes are counted by timestamp
 * (seconds); the embedded chain mines a block every second, so time moves on its own.
 */
export const DEV_GOVERNANCE: GovernanceSettings = {
  votingDelay: 1,
  votingPeriod: 20,
  proposalThreshold: parseUnits("1000", 18),
  quorumPercent: 4,
  timelockDelay: 5,
};

/**
 * Dev-network mining: a worker is challenged in about one block in ten (production: one in
 * 150) and has 20 blocks to answer, so heartbeats and rewards show within seconds.
 */
export const DEV_CHALLENGE_TARGET = maxUint256 / 10n;
/** Each development account (other than the deployer, who keeps the rest) gets this many VEIL. */
export const DEV_ACCOUNT_TOKENS = parseUnits("1000000", 18);

/** What network.json records about the economy besides its addresses. */
export type EconomyInfo = {
  governance: { votingDelaySeconds: number; votingPeriodSeconds: number; timelockDelaySeconds: number };
  challenge: { target: Hex; window: number };
};

/**
 * Deploys the economy for `veil up`: contracts owned by the timelock (dev timings), a dev
 * challenge target, VEIL for every development account, and each account's votes delegated to
 * itself (so it can propose and vote at once). The deployer keeps no role.
 */
export async function deployDevEconomy(options: {
  rpcUrl: string;
  chainId: number;
  deployerKey: Hex;
  registries: ContractAddresses;
  accounts: { address: Hex; privateKey: Hex }[];
  onProgress: (message: string) => void;
}): Promise<{ economy: EconomyAddresses; info: EconomyInfo }> {
  const deployer = privateKeyToAccount(options.deployerKey);
  // The deployer owns the parameters for a moment, sets the dev ones, then hands them over.
  const economy = await deployEconomy({
    rpcUrl: options.rpcUrl,
    chainId: options.chainId,
    deployerKey: options.deployerKey,
    registries: options.registries,
    governance: DEV_GOVERNANCE,
    devGovernance: deployer.address,
    onProgress: options.onProgress,
  });
  const chain = defineChain({
    id: options.chainId,
    name: "veil",
    nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
    rpcUrls: { default: { http: [options.rpcUrl] } },
  });
  const transport = http(options.rpcUrl, { retryCount: 1 });
  const client = createPublicClient({ chain, transport, pollingInterval: 20 });
  const walletOf = (key: Hex) => createWalletClient({ chain, transport, account: privateKeyToAccount(key) });
  const wallet = walletOf(options.deployerKey);

  // Sent back to back without waiting (the deployer's nonces are consecutive), then awaited.
  let nonce = await client.getTransactionCount({ address: deployer.address, blockTag: "pending" });
  const hashes: Hex[] = [];
  const send = async (
    address: Hex,
    abi: readonly unknown[],
    functionName: string,
    args: readonly unknown[],
  ) => {
    try {
      hashes.push(await wallet.writeContract({ address, abi, functionName, args, nonce: nonce++ } as never));
    } catch (err) {
      throw chainError(err, `${functionName} on ${address}`, options.rpcUrl);
    }
  };
  options.onProgress("economy: dev challenge target, VEIL for the dev accounts, parameters to the timelock…");
  await send(economy.rewards, rewardsAbi, "setChallengeTarget", [DEV_CHALLENGE_TARGET]);
  for (const a of options.accounts) {
    if (a.address.toLowerCase() === deployer.address.toLowerCase()) continue;
    await send(economy.token, veilTokenAbi, "transfer", [a.address, DEV_ACCOUNT_TOKENS]);
  }
  for (const [address, abi] of [
    [economy.token, veilTokenAbi],
    [economy.stakePool, stakePoolAbi],
    [economy.rewards, rewardsAbi],
    [economy.feeEscrow, feeEscrowAbi],
    [economy.slashing, slashingAbi],
    [economy.vaultFactory, vaultFactoryAbi],
  ] as const) {
    await send(address, abi, "transferOwnership", [economy.timelock]);
  }
  // Every account delegates its votes to itself (different senders: sent in parallel).
  await send(economy.token, veilTokenAbi, "delegate", [deployer.address]);
  const delegations = await Promise.all(
    options.accounts
      .filter((a) => a.address.toLowerCase() !== deployer.address.toLowerCase())
      .map((a) =>
        walletOf(a.privateKey)
          .writeContract({
            address: economy.token,
            abi: veilTokenAbi,
            functionName: "delegate",
            args: [a.address],
          })
          .catch((err: unknown) => {
            throw chainError(err, `delegate the votes of ${a.address}`, options.rpcUrl);
          }),
      ),
  );
  for (const hash of [...hashes, ...delegations]) {
    const receipt = await client.waitForTransactionReceipt({ hash, pollingInterval: 20 });
    if (receipt.status !== "success") {
      throw chainError(new Error(`transaction ${hash} reverted`), "set up the dev economy", options.rpcUrl);
    }
  }
  const window = await client.readContract({
    address: economy.rewards,
    abi: rewardsAbi,
    functionName: "challengeWindow",
  });
  return {
    economy,
    info: {
      governance: {
        votingDelaySeconds: DEV_GOVERNANCE.votingDelay,
        votingPeriodSeconds: DEV_GOVERNANCE.votingPeriod,
        timelockDelaySeconds: DEV_GOVERNANCE.timelockDelay,
      },
      challenge: { target: `0x${DEV_CHALLENGE_TARGET.toString(16)}`, window: Number(window) },
    },
  };
}
