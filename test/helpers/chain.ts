import type { Hex } from "viem";
import { deployContracts } from "../../src/chain/deploy.ts";
import { type EmbeddedChain, startEmbeddedChain } from "../../src/chain/embedded.ts";
import { type ChainConfig, type DevAccount, devAccounts, VeilChain } from "../../src/chain/index.ts";

export type TestChain = {
  embedded: EmbeddedChain;
  config: ChainConfig;
  accounts: DevAccount[];
  /** A client signing as dev account `i` (0 deploys and governs). */
  as(i: number): VeilChain;
  reader: VeilChain;
  close(): Promise<void>;
};

/** An embedded chain on a free port with fresh contracts, for one test file. */
export async function startTestChain(): Promise<TestChain> {
  const embedded = await startEmbeddedChain({ port: 0 });
  const accounts = devAccounts(10);
  const contracts = await deployContracts({
    rpcUrl: embedded.url,
    chainId: embedded.chainId,
    deployerKey: accounts[0]!.privateKey,
  });
  const config: ChainConfig = { rpcUrl: embedded.url, chainId: embedded.chainId, contracts };
  return {
    embedded,
    config,
    accounts,
    as: (i) => new VeilChain(config, { account: accounts[i]!.privateKey, pollingIntervalMs: 50 }),
    reader: new VeilChain(config, { pollingIntervalMs: 50 }),
    close: () => embedded.close(),
  };
}

export const hash32 = (byte: number): Hex => `0x${byte.toString(16).padStart(2, "0").repeat(32)}`;
