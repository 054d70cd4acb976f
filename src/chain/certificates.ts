import { concat, encodeAbiParameters, type Hex, keccak256, toBytes } from "viem";

/**
 * The digests of Veil's key certificates, computed exactly as AgentKeys.sol computes them, so a
 * certificate made off chain verifies on chain. Signatures over them are EIP-191 (personal
 * message) signatures of the 32-byte digest.
 */
export function clusterCertDigest(args: {
  chainId: number;
  gatekeeperRegistry: Hex;
  epoch: bigint;
  clusterId: string;
  clusterSigner: Hex;
}): Hex {
  return keccak256(
    encodeAbiParameters(
      [
        { type: "string" },
        { type: "uint256" },
        { type: "address" },
        { type: "uint64" },
        { type: "bytes32" },
        { type: "address" },
      ],
      [
        "veil.cluster-cert.v1",
        BigInt(args.chainId),
        args.gatekeeperRegistry,
        args.epoch,
        keccak256(toBytes(args.clusterId)),
        args.clusterSigner,
      ],
    ),
  );
}

export function agentCertDigest(args: {
  chainId: number;
  agentRegistry: Hex;
  id: bigint;
  epoch: bigint;
  encryptionKey: Hex;
  signingAddress: Hex;
}): Hex {
  return keccak256(
    encodeAbiParameters(
      [
        { type: "string" },
        { type: "uint256" },
        { type: "address" },
        { type: "uint256" },
        { type: "uint64" },
        { type: "bytes32" },
        { type: "address" },
      ],
      [
        "veil.agent-cert.v1",
        BigInt(args.chainId),
        args.agentRegistry,
        args.id,
        args.epoch,
        args.encryptionKey,
        args.signingAddress,
      ],
    ),
  );
}

/**
 * The receipt an agent signs for every response: which agent, which code, what came in, what
 * went out, on which worker, in which key epoch, for which nonce. Signed (EIP-191) by the
 * agent's own certified key, so a caller checks it up to the master key on chain.
 */
export type Receipt = {
  agentId: string;
  codeHash: Hex;
  inputHash: Hex;
  outputHash: Hex;
  status: number;
  worker: Hex;
  epoch: string;
  nonce: Hex;
  signature: Hex;
};

export function receiptDigest(
  args: { chainId: number; agentRegistry: Hex } & Omit<Receipt, "signature">,
): Hex {
  return keccak256(
    encodeAbiParameters(
      [
        { type: "string" },
        { type: "uint256" },
        { type: "address" },
        { type: "uint256" },
        { type: "bytes32" },
        { type: "bytes32" },
        { type: "bytes32" },
        { type: "uint16" },
        { type: "address" },
        { type: "uint64" },
        { type: "bytes32" },
      ],
      [
        "veil.receipt.v1",
        BigInt(args.chainId),
        args.agentRegistry,
        BigInt(args.agentId),
        args.codeHash,
        args.inputHash,
        args.outputHash,
        args.status,
        args.worker,
        BigInt(args.epoch),
        args.nonce,
      ],
    ),
  );
}

/**
 * What a worker signs for an invocation it metered: the agent, code and request (by hash and
 * the caller's nonce), and the resources used. Signed (EIP-191) by the worker's identity key,
 * whose address the WorkerRegistry lists; fee settlement and disputes start from these.
 */
export type UsageReceipt = {
  agentId: string;
  codeHash: Hex;
  inputHash: Hex;
  nonce: Hex;
  worker: Hex;
  cpuUs: number;
  wallUs: number;
  heapBytes: number;
  egressBytes: number;
  stateBytes: number;
  /** Tokens of the agent's LLM calls for this invocation (each call also has its own receipt). */
  llmPromptTokens: number;
  llmCompletionTokens: number;
  /**
   * The LLM call receipts this invocation produced, by `llmReceiptsHash`: they belong to this
   * invocation and worker, and no other call's can be attached in their place (ADR 0020).
   */
  llmReceipts: Hex;
  signature: Hex;
};

/**
 * Names an invocation's LLM call receipts, in order: keccak256 over their signatures (each
 * signature covers the whole receipt); the zero hash when there are none.
 */
export function llmReceiptsHash(receipts: readonly { signature: Hex }[]): Hex {
  if (receipts.length === 0) return `0x${"00".repeat(32)}`;
  return keccak256(concat(receipts.map((r) => r.signature)));
}

export function usageReceiptDigest(
  args: { chainId: number; workerRegistry: Hex } & Omit<UsageReceipt, "signature">,
): Hex {
  return keccak256(
    encodeAbiParameters(
      [
        { type: "string" },
        { type: "uint256" },
        { type: "address" },
        { type: "address" },
        { type: "uint256" },
        { type: "bytes32" },
        { type: "bytes32" },
        { type: "bytes32" },
        { type: "uint64" },
        { type: "uint64" },
        { type: "uint64" },
        { type: "uint64" },
        { type: "uint64" },
        { type: "uint64" },
        { type: "uint64" },
        { type: "bytes32" },
      ],
      [
        "veil.usage.v3",
        BigInt(args.chainId),
        args.workerRegistry,
        args.worker,
        BigInt(args.agentId),
        args.codeHash,
        args.inputHash,
        args.nonce,
        BigInt(args.cpuUs),
        BigInt(args.wallUs),
        BigInt(args.heapBytes),
        BigInt(args.egressBytes),
        BigInt(args.stateBytes),
        BigInt(args.llmPromptTokens),
        BigInt(args.llmCompletionTokens),
        args.llmReceipts,
      ],
    ),
  );
}

/**
 * What a worker signs for one LLM call an agent made through ctx.llm: who asked (the agent),
 * whom (provider name and base URL), which model, and the exact bytes sent and received (by
 * hash), with the tokens the provider reported. Signed (EIP-191) by the worker's identity key.
 */
export type LlmCallReceipt = {
  agentId: string;
  provider: string;
  baseUrl: string;
  model: string;
  requestHash: Hex;
  responseHash: Hex;
  promptTokens: number;
  completionTokens: number;
  at: number;
  worker: Hex;
  signature: Hex;
};

export function llmReceiptDigest(
  args: { chainId: number; workerRegistry: Hex } & Omit<LlmCallReceipt, "signature">,
): Hex {
  return keccak256(
    encodeAbiParameters(
      [
        { type: "string" },
        { type: "uint256" },
        { type: "address" },
        { type: "address" },
        { type: "uint256" },
        { type: "string" },
        { type: "string" },
        { type: "string" },
        { type: "bytes32" },
        { type: "bytes32" },
        { type: "uint64" },
        { type: "uint64" },
        { type: "uint64" },
      ],
      [
        "veil.llm.v1",
        BigInt(args.chainId),
        args.workerRegistry,
        args.worker,
        BigInt(args.agentId),
        args.provider,
        args.baseUrl,
        args.model,
        args.requestHash,
        args.responseHash,
        BigInt(args.promptTokens),
        BigInt(args.completionTokens),
        BigInt(args.at),
      ],
    ),
  );
}

/** What a cluster signer signs to re-seal an agent's secret (AgentKeys.secretResealDigest). */
export function secretResealDigest(args: {
  chainId: number;
  agentKeys: Hex;
  id: bigint;
  name: string;
  previousHash: Hex;
  ciphertext: Hex;
}): Hex {
  return keccak256(
    encodeAbiParameters(
      [
        { type: "string" },
        { type: "uint256" },
        { type: "address" },
        { type: "uint256" },
        { type: "bytes32" },
        { type: "bytes32" },
        { type: "bytes32" },
      ],
      [
        "veil.secret-reseal.v1",
        BigInt(args.chainId),
        args.agentKeys,
        args.id,
        keccak256(toBytes(args.name)),
        args.previousHash,
        keccak256(args.ciphertext),
      ],
    ),
  );
}
