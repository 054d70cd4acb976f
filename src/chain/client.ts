import {
  type Abi,
  type Account,
  createPublicClient,
  createWalletClient,
  defineChain,
  type Hex,
  http,
  type Log,
  type PublicClient,
  type Transport,
  type Chain as ViemChain,
  type WalletClient,
} from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { chainError } from "./errors.ts";
import { gasWithHeadroom } from "./gas.ts";
import { AccessClient } from "./registries/access.ts";
import { AgentKeysClient } from "./registries/agent-keys.ts";
import { AgentsClient } from "./registries/agents.ts";
import { AttestationPolicyClient } from "./registries/attestation-policy.ts";
import { GatekeepersClient } from "./registries/gatekeepers.ts";
import type { ChainConfig } from "./registries/records.ts";
import { WorkersClient } from "./registries/workers.ts";
import { checkedCall, type WriteArgs, type WriteName } from "./typed-calls.ts";

export { AccessClient } from "./registries/access.ts";
export { AgentKeysClient } from "./registries/agent-keys.ts";
export { AgentsClient } from "./registries/agents.ts";
export { AttestationPolicyClient } from "./registries/attestation-policy.ts";
export { RegistryClient } from "./registries/base.ts";
export { GatekeepersClient } from "./registries/gatekeepers.ts";
export * from "./registries/records.ts";
export { WorkersClient } from "./registries/workers.ts";

/**
 * Veil's typed view of the chain: reads and writes on the registries through viem, over any
 * JSON-RPC endpoint. Every failure comes out as a VeilError (see errors.ts).
 */
export class VeilChain {
  readonly config: ChainConfig;
  readonly public: PublicClient<Transport, ViemChain>;
  readonly wallet: WalletClient<Transport, ViemChain, Account> | undefined;
  readonly agents: AgentsClient;
  readonly access: AccessClient;
  readonly agentKeys: AgentKeysClient;
  readonly workers: WorkersClient;
  readonly gatekeepers: GatekeepersClient;
  readonly attestationPolicy: AttestationPolicyClient;

  constructor(
    config: ChainConfig,
    options: {
      account?: Account | Hex;
      pollingIntervalMs?: number;
      /**
       * Where the account's transactions are signed, if not at the chain's own endpoint: a
       * browser wallet (EIP-1193) signing for a `json-rpc` account. Reads still go to the chain.
       */
      signerTransport?: Transport;
    } = {},
  ) {
    this.config = config;
    const chain = defineChain({
      id: config.chainId,
      name: `veil-${config.chainId}`,
      nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
      rpcUrls: { default: { http: [config.rpcUrl] } },
    });
    const transport = http(config.rpcUrl, { retryCount: 1, timeout: 15_000 });
    const pollingInterval = options.pollingIntervalMs ?? 250;
    this.public = createPublicClient({ chain, transport, pollingInterval });
    const account =
      typeof options.account === "string" ? privateKeyToAccount(options.account) : options.account;
    this.wallet = account
      ? createWalletClient({
          chain,
          transport: options.signerTransport ?? transport,
          account,
          pollingInterval,
        })
      : undefined;
    this.agents = new AgentsClient(this);
    this.access = new AccessClient(this);
    this.agentKeys = new AgentKeysClient(this);
    this.workers = new WorkersClient(this);
    this.gatekeepers = new GatekeepersClient(this);
    this.attestationPolicy = new AttestationPolicyClient(this);
  }

  get account(): Hex {
    return this.requireWallet("use an account").account.address;
  }

  private requireWallet(action: string): WalletClient<Transport, ViemChain, Account> {
    if (!this.wallet) throw new Error(`cannot ${action}: this chain client has no account`);
    return this.wallet;
  }

  /** Runs a read, turning failures into VeilErrors. */
  private async read<T>(action: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw chainError(err, action, this.config.rpcUrl);
    }
  }

  /** The last send of this client's account, which the next one waits for (see write). */
  #sends: Promise<unknown> = Promise.resolve();

  /**
   * Simulates (so a revert is decoded before anything is sent), sends, and waits for the
   * receipt; a transaction that reverts on chain is an error too. Typed by viem from the ABI: a
   * function `abi` does not have, or arguments it does not take, fail to compile.
   *
   * @example
   * const { hash, logs } = await chain.write("pause agent 1", {
   *   address: chain.config.contracts.agentRegistry,
   *   abi: agentRegistryAbi,
   *   functionName: "pause",
   *   args: [1n],
   * });
   */
  async write<const A extends Abi, N extends WriteName<A>>(
    action: string,
    request: {
      address: Hex;
      abi: A;
      functionName: N;
      args: WriteArgs<A, N>;
      /** Wei sent with a payable call. */
      value?: bigint;
    },
  ): Promise<{ hash: Hex; logs: Log[] }> {
    const wallet = this.requireWallet(action);
    try {
      // Checked against the ABI in the signature; carried here without the per-function types.
      const { address, abi, functionName, args } = checkedCall(
        request.address,
        request.abi,
        request.functionName,
        request.args,
      );
      const call = {
        address,
        abi,
        functionName,
        args,
        account: wallet.account,
        ...(request.value !== undefined ? { value: request.value } : {}),
      };
      // One send at a time per client: two writes racing from one account would both be given
      // the account's next nonce (a gatekeeper recording two workers' verifications at once did).
      // Receipts are awaited outside, so writes still overlap on chain.
      const sent = this.#sends.then(async () => {
        const { request: prepared } = await this.public.simulateContract(call);
        const estimate = await this.public.estimateContractGas(call);
        return wallet.writeContract({ ...prepared, gas: gasWithHeadroom(estimate) });
      });
      this.#sends = sent.catch(() => undefined);
      const hash = await sent;
      const receipt = await this.public.waitForTransactionReceipt({ hash, pollingInterval: 50 });
      if (receipt.status !== "success") throw new Error(`transaction ${hash} reverted`);
      return { hash, logs: receipt.logs };
    } catch (err) {
      throw chainError(err, action, this.config.rpcUrl);
    }
  }

  blockNumber(): Promise<bigint> {
    return this.read("read the block number", () => this.public.getBlockNumber({ cacheTime: 0 }));
  }

  // ── shorthands for the area clients' methods ──

  agentIdOf(...args: Parameters<AgentsClient["agentIdOf"]>): ReturnType<AgentsClient["agentIdOf"]> {
    return this.agents.agentIdOf(...args);
  }

  getAgent(...args: Parameters<AgentsClient["getAgent"]>): ReturnType<AgentsClient["getAgent"]> {
    return this.agents.getAgent(...args);
  }

  agentCount(...args: Parameters<AgentsClient["agentCount"]>): ReturnType<AgentsClient["agentCount"]> {
    return this.agents.agentCount(...args);
  }

  listAgents(...args: Parameters<AgentsClient["listAgents"]>): ReturnType<AgentsClient["listAgents"]> {
    return this.agents.listAgents(...args);
  }

  registerAgent(
    ...args: Parameters<AgentsClient["registerAgent"]>
  ): ReturnType<AgentsClient["registerAgent"]> {
    return this.agents.registerAgent(...args);
  }

  addAgentVersion(
    ...args: Parameters<AgentsClient["addAgentVersion"]>
  ): ReturnType<AgentsClient["addAgentVersion"]> {
    return this.agents.addAgentVersion(...args);
  }

  getLogKey(...args: Parameters<AgentsClient["getLogKey"]>): ReturnType<AgentsClient["getLogKey"]> {
    return this.agents.getLogKey(...args);
  }

  setLogKey(...args: Parameters<AgentsClient["setLogKey"]>): ReturnType<AgentsClient["setLogKey"]> {
    return this.agents.setLogKey(...args);
  }

  getAgentLimits(
    ...args: Parameters<AgentsClient["getAgentLimits"]>
  ): ReturnType<AgentsClient["getAgentLimits"]> {
    return this.agents.getAgentLimits(...args);
  }

  setAgentLimits(
    ...args: Parameters<AgentsClient["setAgentLimits"]>
  ): ReturnType<AgentsClient["setAgentLimits"]> {
    return this.agents.setAgentLimits(...args);
  }

  isAgentCodeRemoved(
    ...args: Parameters<AgentsClient["isAgentCodeRemoved"]>
  ): ReturnType<AgentsClient["isAgentCodeRemoved"]> {
    return this.agents.isAgentCodeRemoved(...args);
  }

  agentVersions(
    ...args: Parameters<AgentsClient["agentVersions"]>
  ): ReturnType<AgentsClient["agentVersions"]> {
    return this.agents.agentVersions(...args);
  }

  activateAgentVersion(
    ...args: Parameters<AgentsClient["activateAgentVersion"]>
  ): ReturnType<AgentsClient["activateAgentVersion"]> {
    return this.agents.activateAgentVersion(...args);
  }

  removeAgentVersion(
    ...args: Parameters<AgentsClient["removeAgentVersion"]>
  ): ReturnType<AgentsClient["removeAgentVersion"]> {
    return this.agents.removeAgentVersion(...args);
  }

  pauseAgent(...args: Parameters<AgentsClient["pauseAgent"]>): ReturnType<AgentsClient["pauseAgent"]> {
    return this.agents.pauseAgent(...args);
  }

  unpauseAgent(...args: Parameters<AgentsClient["unpauseAgent"]>): ReturnType<AgentsClient["unpauseAgent"]> {
    return this.agents.unpauseAgent(...args);
  }

  transferAgentOwnership(
    ...args: Parameters<AgentsClient["transferAgentOwnership"]>
  ): ReturnType<AgentsClient["transferAgentOwnership"]> {
    return this.agents.transferAgentOwnership(...args);
  }

  agentEvents(...args: Parameters<AgentsClient["agentEvents"]>): ReturnType<AgentsClient["agentEvents"]> {
    return this.agents.agentEvents(...args);
  }

  getAgentPolicy(
    ...args: Parameters<AccessClient["getAgentPolicy"]>
  ): ReturnType<AccessClient["getAgentPolicy"]> {
    return this.access.getAgentPolicy(...args);
  }

  canCallAgent(...args: Parameters<AccessClient["canCallAgent"]>): ReturnType<AccessClient["canCallAgent"]> {
    return this.access.canCallAgent(...args);
  }

  setAgentAccess(
    ...args: Parameters<AccessClient["setAgentAccess"]>
  ): ReturnType<AccessClient["setAgentAccess"]> {
    return this.access.setAgentAccess(...args);
  }

  setAgentAllowed(
    ...args: Parameters<AccessClient["setAgentAllowed"]>
  ): ReturnType<AccessClient["setAgentAllowed"]> {
    return this.access.setAgentAllowed(...args);
  }

  setAgentPrice(
    ...args: Parameters<AccessClient["setAgentPrice"]>
  ): ReturnType<AccessClient["setAgentPrice"]> {
    return this.access.setAgentPrice(...args);
  }

  priceIncreaseDelay(
    ...args: Parameters<AccessClient["priceIncreaseDelay"]>
  ): ReturnType<AccessClient["priceIncreaseDelay"]> {
    return this.access.priceIncreaseDelay(...args);
  }

  setPriceIncreaseDelay(
    ...args: Parameters<AccessClient["setPriceIncreaseDelay"]>
  ): ReturnType<AccessClient["setPriceIncreaseDelay"]> {
    return this.access.setPriceIncreaseDelay(...args);
  }

  setAgentQuota(
    ...args: Parameters<AccessClient["setAgentQuota"]>
  ): ReturnType<AccessClient["setAgentQuota"]> {
    return this.access.setAgentQuota(...args);
  }

  setAgentSpendingCap(
    ...args: Parameters<AccessClient["setAgentSpendingCap"]>
  ): ReturnType<AccessClient["setAgentSpendingCap"]> {
    return this.access.setAgentSpendingCap(...args);
  }

  getAgentKeys(
    ...args: Parameters<AgentKeysClient["getAgentKeys"]>
  ): ReturnType<AgentKeysClient["getAgentKeys"]> {
    return this.agentKeys.getAgentKeys(...args);
  }

  setAgentKeys(
    ...args: Parameters<AgentKeysClient["setAgentKeys"]>
  ): ReturnType<AgentKeysClient["setAgentKeys"]> {
    return this.agentKeys.setAgentKeys(...args);
  }

  setSecret(...args: Parameters<AgentKeysClient["setSecret"]>): ReturnType<AgentKeysClient["setSecret"]> {
    return this.agentKeys.setSecret(...args);
  }

  resealSecret(
    ...args: Parameters<AgentKeysClient["resealSecret"]>
  ): ReturnType<AgentKeysClient["resealSecret"]> {
    return this.agentKeys.resealSecret(...args);
  }

  unsetSecret(
    ...args: Parameters<AgentKeysClient["unsetSecret"]>
  ): ReturnType<AgentKeysClient["unsetSecret"]> {
    return this.agentKeys.unsetSecret(...args);
  }

  secretNames(
    ...args: Parameters<AgentKeysClient["secretNames"]>
  ): ReturnType<AgentKeysClient["secretNames"]> {
    return this.agentKeys.secretNames(...args);
  }

  getSecret(...args: Parameters<AgentKeysClient["getSecret"]>): ReturnType<AgentKeysClient["getSecret"]> {
    return this.agentKeys.getSecret(...args);
  }

  agentKeyEvents(
    ...args: Parameters<AgentKeysClient["agentKeyEvents"]>
  ): ReturnType<AgentKeysClient["agentKeyEvents"]> {
    return this.agentKeys.agentKeyEvents(...args);
  }

  workerRegistrationDigest(
    ...args: Parameters<WorkersClient["workerRegistrationDigest"]>
  ): ReturnType<WorkersClient["workerRegistrationDigest"]> {
    return this.workers.workerRegistrationDigest(...args);
  }

  registerWorker(
    ...args: Parameters<WorkersClient["registerWorker"]>
  ): ReturnType<WorkersClient["registerWorker"]> {
    return this.workers.registerWorker(...args);
  }

  stopWorker(...args: Parameters<WorkersClient["stopWorker"]>): ReturnType<WorkersClient["stopWorker"]> {
    return this.workers.stopWorker(...args);
  }

  expireWorker(
    ...args: Parameters<WorkersClient["expireWorker"]>
  ): ReturnType<WorkersClient["expireWorker"]> {
    return this.workers.expireWorker(...args);
  }

  markMeasurementRevoked(
    ...args: Parameters<WorkersClient["markMeasurementRevoked"]>
  ): ReturnType<WorkersClient["markMeasurementRevoked"]> {
    return this.workers.markMeasurementRevoked(...args);
  }

  markTcbBelowMinimum(
    ...args: Parameters<WorkersClient["markTcbBelowMinimum"]>
  ): ReturnType<WorkersClient["markTcbBelowMinimum"]> {
    return this.workers.markTcbBelowMinimum(...args);
  }

  recordWorkerVerification(
    ...args: Parameters<WorkersClient["recordWorkerVerification"]>
  ): ReturnType<WorkersClient["recordWorkerVerification"]> {
    return this.workers.recordWorkerVerification(...args);
  }

  isWorkerRegisteredWithinPolicy(
    ...args: Parameters<WorkersClient["isWorkerRegisteredWithinPolicy"]>
  ): ReturnType<WorkersClient["isWorkerRegisteredWithinPolicy"]> {
    return this.workers.isWorkerRegisteredWithinPolicy(...args);
  }

  isWorkerAttested(
    ...args: Parameters<WorkersClient["isWorkerAttested"]>
  ): ReturnType<WorkersClient["isWorkerAttested"]> {
    return this.workers.isWorkerAttested(...args);
  }

  getWorker(...args: Parameters<WorkersClient["getWorker"]>): ReturnType<WorkersClient["getWorker"]> {
    return this.workers.getWorker(...args);
  }

  listWorkers(...args: Parameters<WorkersClient["listWorkers"]>): ReturnType<WorkersClient["listWorkers"]> {
    return this.workers.listWorkers(...args);
  }

  addGatekeeper(
    ...args: Parameters<GatekeepersClient["addGatekeeper"]>
  ): ReturnType<GatekeepersClient["addGatekeeper"]> {
    return this.gatekeepers.addGatekeeper(...args);
  }

  isGatekeeper(
    ...args: Parameters<GatekeepersClient["isGatekeeper"]>
  ): ReturnType<GatekeepersClient["isGatekeeper"]> {
    return this.gatekeepers.isGatekeeper(...args);
  }

  listGatekeepers(
    ...args: Parameters<GatekeepersClient["listGatekeepers"]>
  ): ReturnType<GatekeepersClient["listGatekeepers"]> {
    return this.gatekeepers.listGatekeepers(...args);
  }

  epoch(...args: Parameters<GatekeepersClient["epoch"]>): ReturnType<GatekeepersClient["epoch"]> {
    return this.gatekeepers.epoch(...args);
  }

  masterPublicKey(
    ...args: Parameters<GatekeepersClient["masterPublicKey"]>
  ): ReturnType<GatekeepersClient["masterPublicKey"]> {
    return this.gatekeepers.masterPublicKey(...args);
  }

  publishMasterPublicKey(
    ...args: Parameters<GatekeepersClient["publishMasterPublicKey"]>
  ): ReturnType<GatekeepersClient["publishMasterPublicKey"]> {
    return this.gatekeepers.publishMasterPublicKey(...args);
  }

  masterSigner(
    ...args: Parameters<GatekeepersClient["masterSigner"]>
  ): ReturnType<GatekeepersClient["masterSigner"]> {
    return this.gatekeepers.masterSigner(...args);
  }

  isSimulatedAllowed(
    ...args: Parameters<AttestationPolicyClient["isSimulatedAllowed"]>
  ): ReturnType<AttestationPolicyClient["isSimulatedAllowed"]> {
    return this.attestationPolicy.isSimulatedAllowed(...args);
  }

  setSimulatedAllowed(
    ...args: Parameters<AttestationPolicyClient["setSimulatedAllowed"]>
  ): ReturnType<AttestationPolicyClient["setSimulatedAllowed"]> {
    return this.attestationPolicy.setSimulatedAllowed(...args);
  }

  allowMeasurement(
    ...args: Parameters<AttestationPolicyClient["allowMeasurement"]>
  ): ReturnType<AttestationPolicyClient["allowMeasurement"]> {
    return this.attestationPolicy.allowMeasurement(...args);
  }

  isMeasurementAllowed(
    ...args: Parameters<AttestationPolicyClient["isMeasurementAllowed"]>
  ): ReturnType<AttestationPolicyClient["isMeasurementAllowed"]> {
    return this.attestationPolicy.isMeasurementAllowed(...args);
  }

  revokeMeasurement(
    ...args: Parameters<AttestationPolicyClient["revokeMeasurement"]>
  ): ReturnType<AttestationPolicyClient["revokeMeasurement"]> {
    return this.attestationPolicy.revokeMeasurement(...args);
  }

  policyParameters(
    ...args: Parameters<AttestationPolicyClient["policyParameters"]>
  ): ReturnType<AttestationPolicyClient["policyParameters"]> {
    return this.attestationPolicy.policyParameters(...args);
  }

  setPolicyParameters(
    ...args: Parameters<AttestationPolicyClient["setPolicyParameters"]>
  ): ReturnType<AttestationPolicyClient["setPolicyParameters"]> {
    return this.attestationPolicy.setPolicyParameters(...args);
  }

  setAdvisoryAllowed(
    ...args: Parameters<AttestationPolicyClient["setAdvisoryAllowed"]>
  ): ReturnType<AttestationPolicyClient["setAdvisoryAllowed"]> {
    return this.attestationPolicy.setAdvisoryAllowed(...args);
  }

  isAdvisoryAllowed(
    ...args: Parameters<AttestationPolicyClient["isAdvisoryAllowed"]>
  ): ReturnType<AttestationPolicyClient["isAdvisoryAllowed"]> {
    return this.attestationPolicy.isAdvisoryAllowed(...args);
  }
}
