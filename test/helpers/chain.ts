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
  /** Moves the chain's clock forward and mines a block. */
  increaseTime(seconds: number): Promise<void>;
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
    // Tests that price an agent call it at once; the delay's own tests set one (ADR 0020).
    priceIncreaseDelaySeconds: 0,
  });
  const config: ChainConfig = { rpcUrl: embedded.url, chainId: embedded.chainId, contracts };
  // A test chain is a local dev chain: its nodes run on the simulated TEE (ADR 0020).
  await new VeilChain(config, { account: accounts[0]!.privateKey }).setSimulatedAllowed(true);
  return {
    embedded,
    config,
    accounts,
    as: (i) => new VeilChain(config, { account: accounts[i]!.privateKey, pollingIntervalMs: 50 }),
    reader: new VeilChain(config, { pollingIntervalMs: 50 }),
    increaseTime: async (seconds) => {
      const rpc = (method: string, params: unknown[]) =>
        fetch(embedded.url, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
        }).then((r) => r.json());
      await rpc("evm_increaseTime", [seconds]);
      await rpc("evm_mine", []);
    },
    close: () => embedded.close(),
  };
}

export const hash32 = (byte: number): Hex => `0x${byte.toString(16).padStart(2, "0").repeat(32)}`;

/** A worker registration signed by `workerKey`, as the worker daemon makes it. */
export async function signedWorkerRegistration(
  t: TestChain,
  options: {
    operator: number;
    workerKey: Hex;
    measurement: Hex;
    confidence?: number;
    teeType?: number;
    signer?: Hex;
    endpoint?: string;
  },
) {
  const { privateKeyToAccount } = await import("viem/accounts");
  const reg = {
    worker: privateKeyToAccount(options.workerKey).address,
    encryptionKey: hash32(0xee),
    teeType: options.teeType ?? 0,
    measurement: options.measurement,
    evidenceHash: hash32(0xe1),
    confidence: options.confidence ?? 1,
    endpoint: options.endpoint ?? "http://127.0.0.1:1",
  };
  const digest = await t.reader.workerRegistrationDigest({
    operator: t.accounts[options.operator]!.address,
    ...reg,
  });
  const signature = await privateKeyToAccount(options.signer ?? options.workerKey).sign({ hash: digest });
  return { ...reg, signature };
}

/**
 * Plays a gatekeeper that verified `worker`'s evidence now on chain (docs/adr/0020): account 0
 * joins the gatekeeper set once and records it. Tests of the economy use it where a real
 * gatekeeper would have checked the quote; the gatekeeper's own tests check the real path.
 */
export async function recordVerified(t: TestChain, worker: Hex): Promise<void> {
  const governance = t.as(0);
  if (!(await t.reader.isGatekeeper(t.accounts[0]!.address))) {
    await governance.addGatekeeper(t.accounts[0]!.address, hash32(0x0a), "http://127.0.0.1:9");
  }
  const record = await t.reader.getWorker(worker);
  if (!record) throw new Error(`worker ${worker} is not registered`);
  await governance.recordWorkerVerification(worker, record.evidenceHash);
}
