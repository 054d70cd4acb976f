import type { Hex } from "viem";

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
