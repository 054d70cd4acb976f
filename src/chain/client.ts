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
  parseEventLogs,
  type Transport,
  type Chain as ViemChain,
  type WalletClient,
} from "viem";
import { privateKeyToAccount } from "viem/accounts";
import {
  agentKeysAbi,
  agentRegistryAbi,
  attestationPolicyAbi,
  gatekeeperRegistryAbi,
  workerRegistryAbi,
} from "./abi.ts";
import { chainError } from "./errors.ts";
import { gasWithHeadroom } from "./gas.ts";
import { checkedCall, type WriteArgs, type WriteName } from "./typed-calls.ts";

export type ContractAddresses = {
  agentRegistry: Hex;
  agentKeys: Hex;
  workerRegistry: Hex;
  gatekeeperRegistry: Hex;
  attestationPolicy: Hex;
  /** Requests from contracts and schedules (contracts/triggers); absent on networks made before it. */
  agentTriggers?: Hex;
};

export type ChainConfig = { rpcUrl: string; chainId: number; contracts: ContractAddresses };

export type AgentRecord = {
  id: bigint;
  owner: Hex;
  name: string;
  currentVersion: number;
  codeHash: Hex;
  versionCount: number;
};

export const WorkerStatus = {
  None: 0,
  Active: 1,
  Stopped: 2,
  Evicted: 3,
  Expired: 4,
  MeasurementRevoked: 5,
  TcbBelowMinimum: 6,
} as const;

/** The name of a WorkerStatus value, for messages. */
export function workerStatusName(status: number): string {
  return (
    Object.keys(WorkerStatus).find((k) => WorkerStatus[k as keyof typeof WorkerStatus] === status) ??
    `#${status}`
  );
}

/** The attestation policy's parameters (AttestationPolicy.sol). */
export type PolicyParameters = { maxEvidenceAge: number; reattestPeriod: number; minConfidence: number };
export const TeeType = { simulated: 0, sgx: 1, tdx: 2 } as const;

export type WorkerRecord = {
  address: Hex;
  operator: Hex;
  encryptionKey: Hex;
  teeType: number;
  measurement: Hex;
  evidenceHash: Hex;
  confidence: number;
  endpoint: string;
  status: number;
  registeredAt: bigint;
  /** When the operator last submitted evidence (a claim until a gatekeeper verifies it). */
  attestedAt: bigint;
  /** The last evidence a gatekeeper verified, when, and which gatekeeper (0 / zero: never). */
  verifiedEvidenceHash: Hex;
  verifiedAt: bigint;
  verifiedBy: Hex;
};

/** An agent's certified keys as AgentKeys.sol holds them (epoch 0: none yet). */
export type AgentKeyRecord = {
  epoch: bigint;
  encryptionKey: Hex;
  signingAddress: Hex;
  clusterSigner: Hex;
  clusterCert: Hex;
  agentCert: Hex;
  wrappedRoot: Hex;
};

export type GatekeeperRecord = { address: Hex; encryptionKey: Hex; endpoint: string; active: boolean };

export type AgentEvent =
  | { kind: "registered"; id: bigint; name: string; codeHash: Hex; blockNumber: bigint }
  | { kind: "activated"; id: bigint; version: number; codeHash: Hex; blockNumber: bigint }
  | { kind: "limits"; id: bigint; blockNumber: bigint }
  /** Pause, access mode, allowlist, price, quota or spending cap changed. */
  | { kind: "policy"; id: bigint; blockNumber: bigint }
  | { kind: "removed"; id: bigint; version: number; codeHash: Hex; blockNumber: bigint };

/** Who may call an agent (AgentRegistry.Access). */
export const AgentAccess = { public: 0, allowlist: 1, tokenHolders: 2 } as const;
export type AgentAccessMode = keyof typeof AgentAccess;

export function agentAccessName(access: number): AgentAccessMode {
  return (Object.keys(AgentAccess) as AgentAccessMode[]).find((k) => AgentAccess[k] === access) ?? "public";
}

/** How an agent may be called and what a call costs (AgentRegistry.Policy). */
export type AgentPolicy = {
  paused: boolean;
  access: number;
  token: Hex;
  minBalance: bigint;
  price: bigint;
  quotaCalls: number;
  quotaPeriod: number;
  spendingCap: bigint;
  /** A price increase that applies from `pendingPriceAt` (unix seconds; 0n: none pending). */
  pendingPrice: bigint;
  pendingPriceAt: bigint;
};

/** An agent's runtime limits as its owner set them on chain; 0 (or "") means the network default. */
export type AgentLimits = {
  memoryMb: number;
  cpuTimeMs: number;
  wallTimeMs: number;
  maxRequestBytes: number;
  maxResponseBytes: number;
  maxConcurrent: number;
  maxStateBytes: number;
  egressHosts: string;
};

/**
 * Veil's typed view of the chain: reads and writes on the registries through viem, over any
 * JSON-RPC endpoint. Every failure comes out as a VeilError (see errors.ts).
 */
export class VeilChain {
  readonly config: ChainConfig;
  readonly public: PublicClient<Transport, ViemChain>;
  readonly wallet: WalletClient<Transport, ViemChain, Account> | undefined;

  constructor(config: ChainConfig, options: { account?: Account | Hex; pollingIntervalMs?: number } = {}) {
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
    this.wallet = account ? createWalletClient({ chain, transport, account, pollingInterval }) : undefined;
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

  // ── agents ───────────────────────────────────────────────────────────────────────────────

  async agentIdOf(name: string): Promise<bigint> {
    return this.read(`look up agent "${name}"`, () =>
      this.public.readContract({
        address: this.config.contracts.agentRegistry,
        abi: agentRegistryAbi,
        functionName: "idOf",
        args: [name],
      }),
    );
  }

  async getAgent(id: bigint): Promise<AgentRecord> {
    const [owner, name, currentVersion, codeHash, versionCount] = await this.read(`read agent ${id}`, () =>
      this.public.readContract({
        address: this.config.contracts.agentRegistry,
        abi: agentRegistryAbi,
        functionName: "getAgent",
        args: [id],
      }),
    );
    return { id, owner, name, currentVersion, codeHash, versionCount: Number(versionCount) };
  }

  async agentCount(): Promise<bigint> {
    return this.read("count agents", () =>
      this.public.readContract({
        address: this.config.contracts.agentRegistry,
        abi: agentRegistryAbi,
        functionName: "agentCount",
      }),
    );
  }

  async listAgents(): Promise<AgentRecord[]> {
    const count = await this.agentCount();
    const ids = Array.from({ length: Number(count) }, (_, i) => BigInt(i + 1));
    return Promise.all(ids.map((id) => this.getAgent(id)));
  }

  async registerAgent(name: string, codeHash: Hex): Promise<{ id: bigint; hash: Hex }> {
    const { hash, logs } = await this.write(`register agent "${name}"`, {
      address: this.config.contracts.agentRegistry,
      abi: agentRegistryAbi,
      functionName: "register",
      args: [name, codeHash],
    });
    const [event] = parseEventLogs({
      abi: agentRegistryAbi,
      logs,
      eventName: "AgentRegistered",
    });
    if (!event) throw new Error(`register agent "${name}": no AgentRegistered event in ${hash}`);
    return { id: event.args.id, hash };
  }

  async addAgentVersion(id: bigint, codeHash: Hex, activate: boolean): Promise<Hex> {
    const { hash } = await this.write(`add a version to agent ${id}`, {
      address: this.config.contracts.agentRegistry,
      abi: agentRegistryAbi,
      functionName: "addVersion",
      args: [id, codeHash, activate],
    });
    return hash;
  }

  /** The X25519 key the agent's logs are sealed to (zero bytes: none set, logs not kept). */
  async getLogKey(id: bigint): Promise<Hex> {
    return this.read(`read the log key of agent ${id}`, () =>
      this.public.readContract({
        address: this.config.contracts.agentRegistry,
        abi: agentRegistryAbi,
        functionName: "logKeyOf",
        args: [id],
      }),
    );
  }

  async setLogKey(id: bigint, logKey: Hex): Promise<Hex> {
    const { hash } = await this.write(`set the log key of agent ${id}`, {
      address: this.config.contracts.agentRegistry,
      abi: agentRegistryAbi,
      functionName: "setLogKey",
      args: [id, logKey],
    });
    return hash;
  }

  async getAgentLimits(id: bigint): Promise<AgentLimits> {
    return this.read(`read the limits of agent ${id}`, () =>
      this.public.readContract({
        address: this.config.contracts.agentRegistry,
        abi: agentRegistryAbi,
        functionName: "limitsOf",
        args: [id],
      }),
    );
  }

  async setAgentLimits(id: bigint, limits: AgentLimits): Promise<Hex> {
    const { hash } = await this.write(`set the limits of agent ${id}`, {
      address: this.config.contracts.agentRegistry,
      abi: agentRegistryAbi,
      functionName: "setLimits",
      args: [id, limits],
    });
    return hash;
  }

  async getAgentPolicy(id: bigint): Promise<AgentPolicy> {
    return this.read(`read the policy of agent ${id}`, () =>
      this.public.readContract({
        address: this.config.contracts.agentRegistry,
        abi: agentRegistryAbi,
        functionName: "policyOf",
        args: [id],
      }),
    );
  }

  /** Whether `caller` passes the agent's access mode (allowlist or token balance) now. */
  async canCallAgent(id: bigint, caller: Hex): Promise<boolean> {
    return this.read(`check access of ${caller} to agent ${id}`, () =>
      this.public.readContract({
        address: this.config.contracts.agentRegistry,
        abi: agentRegistryAbi,
        functionName: "canCall",
        args: [id, caller],
      }),
    );
  }

  async isAgentCodeRemoved(id: bigint, codeHash: Hex): Promise<boolean> {
    return this.read(`check whether code of agent ${id} was removed`, () =>
      this.public.readContract({
        address: this.config.contracts.agentRegistry,
        abi: agentRegistryAbi,
        functionName: "isCodeRemoved",
        args: [id, codeHash],
      }),
    );
  }

  /** Every version of the agent, with whether it was removed. */
  async agentVersions(id: bigint): Promise<{ version: number; codeHash: Hex; removed: boolean }[]> {
    const hashes = await this.read(`read the versions of agent ${id}`, () =>
      this.public.readContract({
        address: this.config.contracts.agentRegistry,
        abi: agentRegistryAbi,
        functionName: "versions",
        args: [id],
      }),
    );
    return Promise.all(
      hashes.map(async (codeHash, version) => ({
        version,
        codeHash,
        removed: await this.read(`read version ${version} of agent ${id}`, () =>
          this.public.readContract({
            address: this.config.contracts.agentRegistry,
            abi: agentRegistryAbi,
            functionName: "isVersionRemoved",
            args: [id, version],
          }),
        ),
      })),
    );
  }

  async #agentWrite<N extends WriteName<typeof agentRegistryAbi>>(
    action: string,
    functionName: N,
    args: WriteArgs<typeof agentRegistryAbi, N>,
  ): Promise<Hex> {
    const { hash } = await this.write(action, {
      address: this.config.contracts.agentRegistry,
      abi: agentRegistryAbi,
      functionName,
      args,
    });
    return hash;
  }

  activateAgentVersion(id: bigint, version: number): Promise<Hex> {
    return this.#agentWrite(`activate version ${version} of agent ${id}`, "activateVersion", [id, version]);
  }

  removeAgentVersion(id: bigint, version: number): Promise<Hex> {
    return this.#agentWrite(`remove version ${version} of agent ${id}`, "removeVersion", [id, version]);
  }

  pauseAgent(id: bigint): Promise<Hex> {
    return this.#agentWrite(`pause agent ${id}`, "pause", [id]);
  }

  unpauseAgent(id: bigint): Promise<Hex> {
    return this.#agentWrite(`unpause agent ${id}`, "unpause", [id]);
  }

  setAgentAccess(id: bigint, access: AgentAccessMode, token: Hex, minBalance: bigint): Promise<Hex> {
    return this.#agentWrite(`set the access mode of agent ${id}`, "setAccess", [
      id,
      AgentAccess[access],
      token,
      minBalance,
    ]);
  }

  setAgentAllowed(id: bigint, callers: Hex[], allowed: boolean): Promise<Hex> {
    return this.#agentWrite(`change the allowlist of agent ${id}`, "setAllowed", [id, callers, allowed]);
  }

  setAgentPrice(id: bigint, price: bigint): Promise<Hex> {
    return this.#agentWrite(`set the price of agent ${id}`, "setPrice", [id, price]);
  }

  /** Seconds a price increase waits before it applies (ADR 0020); governance sets it. */
  async priceIncreaseDelay(): Promise<number> {
    const delay = await this.read("read the price increase delay", () =>
      this.public.readContract({
        address: this.config.contracts.agentRegistry,
        abi: agentRegistryAbi,
        functionName: "priceIncreaseDelay",
      }),
    );
    return Number(delay);
  }

  async setPriceIncreaseDelay(seconds: number): Promise<Hex> {
    const { hash } = await this.write("set the price increase delay", {
      address: this.config.contracts.agentRegistry,
      abi: agentRegistryAbi,
      functionName: "setPriceIncreaseDelay",
      args: [BigInt(seconds)],
    });
    return hash;
  }

  setAgentQuota(id: bigint, calls: number, periodSeconds: number): Promise<Hex> {
    return this.#agentWrite(`set the quota of agent ${id}`, "setQuota", [id, calls, periodSeconds]);
  }

  setAgentSpendingCap(id: bigint, cap: bigint): Promise<Hex> {
    return this.#agentWrite(`set the spending cap of agent ${id}`, "setSpendingCap", [id, cap]);
  }

  transferAgentOwnership(id: bigint, newOwner: Hex): Promise<Hex> {
    return this.#agentWrite(`transfer agent ${id} to ${newOwner}`, "transferAgentOwnership", [id, newOwner]);
  }

  /** Agent events from `fromBlock` on (inclusive), in chain order. */
  async agentEvents(fromBlock: bigint, toBlock: bigint): Promise<AgentEvent[]> {
    const logs = await this.read("read agent events", () =>
      this.public.getContractEvents({
        address: this.config.contracts.agentRegistry,
        abi: agentRegistryAbi,
        fromBlock,
        toBlock,
      }),
    );
    const events: AgentEvent[] = [];
    for (const log of logs) {
      const blockNumber = log.blockNumber ?? 0n;
      if (log.eventName === "AgentRegistered") {
        const { id, name, codeHash } = log.args;
        if (id !== undefined && name !== undefined && codeHash !== undefined) {
          events.push({ kind: "registered", id, name, codeHash, blockNumber });
        }
      } else if (log.eventName === "LimitsChanged") {
        if (log.args.id !== undefined) events.push({ kind: "limits", id: log.args.id, blockNumber });
      } else if (
        log.eventName === "AgentPaused" ||
        log.eventName === "AccessChanged" ||
        log.eventName === "CallerAllowed" ||
        log.eventName === "PriceChanged" ||
        log.eventName === "PriceIncreaseScheduled" ||
        log.eventName === "QuotaChanged" ||
        log.eventName === "SpendingCapChanged" ||
        log.eventName === "AgentOwnershipTransferred"
      ) {
        if (log.args.id !== undefined) events.push({ kind: "policy", id: log.args.id, blockNumber });
      } else if (log.eventName === "VersionRemoved") {
        const { id, version, codeHash } = log.args;
        if (id !== undefined && version !== undefined && codeHash !== undefined) {
          events.push({ kind: "removed", id, version, codeHash, blockNumber });
        }
      } else if (log.eventName === "VersionActivated") {
        const { id, version, codeHash } = log.args;
        if (id !== undefined && version !== undefined && codeHash !== undefined) {
          events.push({ kind: "activated", id, version, codeHash, blockNumber });
        }
      }
    }
    return events;
  }

  // ── agent keys and secrets ─────────────────────────────────────────────────────────────────

  async getAgentKeys(id: bigint): Promise<AgentKeyRecord> {
    return this.read(`read the keys of agent ${id}`, () =>
      this.public.readContract({
        address: this.config.contracts.agentKeys,
        abi: agentKeysAbi,
        functionName: "getAgentKeys",
        args: [id],
      }),
    );
  }

  async setAgentKeys(id: bigint, clusterId: string, record: AgentKeyRecord): Promise<Hex> {
    const { hash } = await this.write(`record the keys of agent ${id}`, {
      address: this.config.contracts.agentKeys,
      abi: agentKeysAbi,
      functionName: "setAgentKeys",
      args: [id, clusterId, record],
    });
    return hash;
  }

  async setSecret(id: bigint, name: string, ciphertext: Hex): Promise<Hex> {
    const { hash } = await this.write(`set secret ${name} of agent ${id}`, {
      address: this.config.contracts.agentKeys,
      abi: agentKeysAbi,
      functionName: "setSecret",
      args: [id, name, ciphertext],
    });
    return hash;
  }

  /** Re-seals a secret's epoch layer after a rotation (signed by the agent's current cluster signer). */
  async resealSecret(
    id: bigint,
    name: string,
    previousHash: Hex,
    ciphertext: Hex,
    signature: Hex,
  ): Promise<Hex> {
    const { hash } = await this.write(`re-seal secret ${name} of agent ${id}`, {
      address: this.config.contracts.agentKeys,
      abi: agentKeysAbi,
      functionName: "resealSecret",
      args: [id, name, previousHash, ciphertext, signature],
    });
    return hash;
  }

  async unsetSecret(id: bigint, name: string): Promise<Hex> {
    const { hash } = await this.write(`unset secret ${name} of agent ${id}`, {
      address: this.config.contracts.agentKeys,
      abi: agentKeysAbi,
      functionName: "unsetSecret",
      args: [id, name],
    });
    return hash;
  }

  async secretNames(id: bigint): Promise<readonly string[]> {
    return this.read(`list the secrets of agent ${id}`, () =>
      this.public.readContract({
        address: this.config.contracts.agentKeys,
        abi: agentKeysAbi,
        functionName: "secretNames",
        args: [id],
      }),
    );
  }

  async getSecret(id: bigint, name: string): Promise<Hex> {
    return this.read(`read secret ${name} of agent ${id}`, () =>
      this.public.readContract({
        address: this.config.contracts.agentKeys,
        abi: agentKeysAbi,
        functionName: "getSecret",
        args: [id, name],
      }),
    );
  }

  /** Agents whose keys or secrets changed in the block range. */
  async agentKeyEvents(fromBlock: bigint, toBlock: bigint): Promise<bigint[]> {
    const logs = await this.read("read agent key events", () =>
      this.public.getContractEvents({
        address: this.config.contracts.agentKeys,
        abi: agentKeysAbi,
        fromBlock,
        toBlock,
      }),
    );
    const ids: bigint[] = [];
    for (const log of logs) {
      const id = (log.args as { id?: bigint }).id;
      if (id !== undefined && !ids.includes(id)) ids.push(id);
    }
    return ids;
  }

  // ── workers ──────────────────────────────────────────────────────────────────────────────

  async workerRegistrationDigest(args: {
    operator: Hex;
    worker: Hex;
    encryptionKey: Hex;
    teeType: number;
    measurement: Hex;
    evidenceHash: Hex;
    confidence: number;
    endpoint: string;
  }): Promise<Hex> {
    return this.read("compute the worker registration digest", () =>
      this.public.readContract({
        address: this.config.contracts.workerRegistry,
        abi: workerRegistryAbi,
        functionName: "registrationDigest",
        args: [
          args.operator,
          args.worker,
          args.encryptionKey,
          args.teeType,
          args.measurement,
          args.evidenceHash,
          args.confidence,
          args.endpoint,
        ],
      }),
    );
  }

  async registerWorker(args: {
    worker: Hex;
    encryptionKey: Hex;
    teeType: number;
    measurement: Hex;
    evidenceHash: Hex;
    confidence: number;
    endpoint: string;
    signature: Hex;
  }): Promise<Hex> {
    const { hash } = await this.write(`register worker ${args.worker}`, {
      address: this.config.contracts.workerRegistry,
      abi: workerRegistryAbi,
      functionName: "register",
      args: [
        args.worker,
        args.encryptionKey,
        args.teeType,
        args.measurement,
        args.evidenceHash,
        args.confidence,
        args.endpoint,
        args.signature,
      ],
    });
    return hash;
  }

  async stopWorker(worker: Hex): Promise<Hex> {
    const { hash } = await this.write(`stop worker ${worker}`, {
      address: this.config.contracts.workerRegistry,
      abi: workerRegistryAbi,
      functionName: "stop",
      args: [worker],
    });
    return hash;
  }

  /** Records on chain that a worker's evidence is older than the policy allows (anyone may). */
  async expireWorker(worker: Hex): Promise<Hex> {
    return this.#markWorker(worker, "expire", "mark worker expired");
  }

  /** Records that the policy no longer allows a worker's measurement (anyone may). */
  async markMeasurementRevoked(worker: Hex): Promise<Hex> {
    return this.#markWorker(worker, "markMeasurementRevoked", "mark worker's measurement revoked");
  }

  /** Records that a worker's TCB confidence is worse than the policy's minimum (anyone may). */
  async markTcbBelowMinimum(worker: Hex): Promise<Hex> {
    return this.#markWorker(worker, "markTcbBelowMinimum", "mark worker's TCB below minimum");
  }

  async #markWorker(
    worker: Hex,
    functionName: "expire" | "markMeasurementRevoked" | "markTcbBelowMinimum",
    action: string,
  ): Promise<Hex> {
    const { hash } = await this.write(`${action} ${worker}`, {
      address: this.config.contracts.workerRegistry,
      abi: workerRegistryAbi,
      functionName,
      args: [worker],
    });
    return hash;
  }

  /**
   * Records that this client's account, a gatekeeper, verified the worker's current evidence
   * (docs/adr/0020): from then on the worker has standing, until the verification ages out.
   */
  async recordWorkerVerification(worker: Hex, evidenceHash: Hex): Promise<Hex> {
    const { hash } = await this.write(`record the verification of worker ${worker}`, {
      address: this.config.contracts.workerRegistry,
      abi: workerRegistryAbi,
      functionName: "recordVerification",
      args: [worker, evidenceHash],
    });
    return hash;
  }

  /**
   * Whether the worker is active and within the policy on its operator's word alone (before a
   * gatekeeper verified it): what a gatekeeper requires before it verifies the evidence.
   */
  async isWorkerRegisteredWithinPolicy(worker: Hex): Promise<boolean> {
    return this.read(`read the registration of ${worker}`, () =>
      this.public.readContract({
        address: this.config.contracts.workerRegistry,
        abi: workerRegistryAbi,
        functionName: "isRegisteredWithinPolicy",
        args: [worker],
      }),
    );
  }

  /**
   * Whether the worker has standing as of the head block: active, verified by a gatekeeper within
   * the policy's maximum evidence age, and within every other part of the current policy.
   */
  async isWorkerAttested(worker: Hex): Promise<boolean> {
    return this.read(`read the attestation standing of ${worker}`, () =>
      this.public.readContract({
        address: this.config.contracts.workerRegistry,
        abi: workerRegistryAbi,
        functionName: "isAttested",
        args: [worker],
      }),
    );
  }

  /** The worker's record, or undefined when it was never registered. */
  async getWorker(worker: Hex): Promise<WorkerRecord | undefined> {
    try {
      const w = await this.public.readContract({
        address: this.config.contracts.workerRegistry,
        abi: workerRegistryAbi,
        functionName: "getWorker",
        args: [worker],
      });
      return { address: worker, ...w };
    } catch (err) {
      const e = chainError(err, `read worker ${worker}`, this.config.rpcUrl);
      if (e.code === "WORKER_NOT_FOUND") return undefined;
      throw e;
    }
  }

  async listWorkers(): Promise<WorkerRecord[]> {
    const addresses = await this.read("list workers", () =>
      this.public.readContract({
        address: this.config.contracts.workerRegistry,
        abi: workerRegistryAbi,
        functionName: "workers",
      }),
    );
    const records = await Promise.all(addresses.map((a) => this.getWorker(a)));
    return records.filter((r): r is WorkerRecord => r !== undefined);
  }

  // ── gatekeepers and policy ───────────────────────────────────────────────────────────────

  async addGatekeeper(gatekeeper: Hex, encryptionKey: Hex, endpoint: string): Promise<Hex> {
    const { hash } = await this.write(`add gatekeeper ${gatekeeper}`, {
      address: this.config.contracts.gatekeeperRegistry,
      abi: gatekeeperRegistryAbi,
      functionName: "addGatekeeper",
      args: [gatekeeper, encryptionKey, endpoint],
    });
    return hash;
  }

  async isGatekeeper(account: Hex): Promise<boolean> {
    return this.read(`check gatekeeper ${account}`, () =>
      this.public.readContract({
        address: this.config.contracts.gatekeeperRegistry,
        abi: gatekeeperRegistryAbi,
        functionName: "isGatekeeper",
        args: [account],
      }),
    );
  }

  async listGatekeepers(): Promise<GatekeeperRecord[]> {
    const addresses = await this.read("list gatekeepers", () =>
      this.public.readContract({
        address: this.config.contracts.gatekeeperRegistry,
        abi: gatekeeperRegistryAbi,
        functionName: "gatekeepers",
      }),
    );
    return Promise.all(
      addresses.map(async (address) => {
        const g = await this.read(`read gatekeeper ${address}`, () =>
          this.public.readContract({
            address: this.config.contracts.gatekeeperRegistry,
            abi: gatekeeperRegistryAbi,
            functionName: "getGatekeeper",
            args: [address],
          }),
        );
        return { address, ...g };
      }),
    );
  }

  async epoch(): Promise<bigint> {
    return this.read("read the key epoch", () =>
      this.public.readContract({
        address: this.config.contracts.gatekeeperRegistry,
        abi: gatekeeperRegistryAbi,
        functionName: "epoch",
      }),
    );
  }

  async masterPublicKey(epoch: bigint): Promise<Hex> {
    return this.read(`read the master public key of epoch ${epoch}`, () =>
      this.public.readContract({
        address: this.config.contracts.gatekeeperRegistry,
        abi: gatekeeperRegistryAbi,
        functionName: "masterPublicKey",
        args: [epoch],
      }),
    );
  }

  async publishMasterPublicKey(publicKey: Hex, signer: Hex): Promise<Hex> {
    const { hash } = await this.write("publish the master public key", {
      address: this.config.contracts.gatekeeperRegistry,
      abi: gatekeeperRegistryAbi,
      functionName: "publishMasterPublicKey",
      args: [publicKey, signer],
    });
    return hash;
  }

  async masterSigner(epoch: bigint): Promise<Hex> {
    return this.read(`read the master signer of epoch ${epoch}`, () =>
      this.public.readContract({
        address: this.config.contracts.gatekeeperRegistry,
        abi: gatekeeperRegistryAbi,
        functionName: "masterSigner",
        args: [epoch],
      }),
    );
  }

  /**
   * Whether simulated evidence counts on this network at all (ADR 0020): only a local dev network
   * turns it on, since the simulated platform's key is public.
   */
  async isSimulatedAllowed(): Promise<boolean> {
    return this.read("read the attestation policy", () =>
      this.public.readContract({
        address: this.config.contracts.attestationPolicy,
        abi: attestationPolicyAbi,
        functionName: "simulatedAllowed",
      }),
    );
  }

  async setSimulatedAllowed(allowed: boolean): Promise<Hex> {
    const { hash } = await this.write(allowed ? "allow simulated evidence" : "refuse simulated evidence", {
      address: this.config.contracts.attestationPolicy,
      abi: attestationPolicyAbi,
      functionName: "setSimulatedAllowed",
      args: [allowed],
    });
    return hash;
  }

  async allowMeasurement(teeType: number, measurement: Hex): Promise<Hex> {
    const { hash } = await this.write("allow a measurement", {
      address: this.config.contracts.attestationPolicy,
      abi: attestationPolicyAbi,
      functionName: "allowMeasurement",
      args: [teeType, measurement],
    });
    return hash;
  }

  async isMeasurementAllowed(teeType: number, measurement: Hex): Promise<boolean> {
    return this.read("read the attestation policy", () =>
      this.public.readContract({
        address: this.config.contracts.attestationPolicy,
        abi: attestationPolicyAbi,
        functionName: "isAllowed",
        args: [teeType, measurement],
      }),
    );
  }

  async revokeMeasurement(teeType: number, measurement: Hex): Promise<Hex> {
    const { hash } = await this.write("revoke a measurement", {
      address: this.config.contracts.attestationPolicy,
      abi: attestationPolicyAbi,
      functionName: "revokeMeasurement",
      args: [teeType, measurement],
    });
    return hash;
  }

  async policyParameters(): Promise<PolicyParameters> {
    const address = this.config.contracts.attestationPolicy;
    const abi = attestationPolicyAbi;
    return this.read("read the attestation policy", async () => {
      const [maxEvidenceAge, reattestPeriod, minConfidence] = await Promise.all([
        this.public.readContract({ address, abi, functionName: "maxEvidenceAge" }),
        this.public.readContract({ address, abi, functionName: "reattestPeriod" }),
        this.public.readContract({ address, abi, functionName: "minConfidence" }),
      ]);
      return {
        maxEvidenceAge: Number(maxEvidenceAge),
        reattestPeriod: Number(reattestPeriod),
        minConfidence,
      };
    });
  }

  async setPolicyParameters(p: PolicyParameters): Promise<Hex> {
    const { hash } = await this.write("set the attestation policy's parameters", {
      address: this.config.contracts.attestationPolicy,
      abi: attestationPolicyAbi,
      functionName: "setParameters",
      args: [BigInt(p.maxEvidenceAge), BigInt(p.reattestPeriod), p.minConfidence],
    });
    return hash;
  }

  async setAdvisoryAllowed(advisoryId: string, allowed: boolean): Promise<Hex> {
    const { hash } = await this.write(`${allowed ? "allow" : "disallow"} advisory ${advisoryId}`, {
      address: this.config.contracts.attestationPolicy,
      abi: attestationPolicyAbi,
      functionName: "setAdvisoryAllowed",
      args: [advisoryId, allowed],
    });
    return hash;
  }

  async isAdvisoryAllowed(advisoryId: string): Promise<boolean> {
    return this.read("read the attestation policy", () =>
      this.public.readContract({
        address: this.config.contracts.attestationPolicy,
        abi: attestationPolicyAbi,
        functionName: "isAdvisoryAllowed",
        args: [advisoryId],
      }),
    );
  }
}
